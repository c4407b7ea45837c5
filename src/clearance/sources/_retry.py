"""One retry loop for the vendor APIs a pull reads page by page (the REST client of
:mod:`clearance.sources._http`, Datadog's SDK in :mod:`clearance.sources.datadog.api`).

An attempt that may be tried again raises :class:`RetryableError`: what failed, the wait the API
asked for (``Retry-After``, a rate-limit reset; None: back off), and the error to raise once the
retries are spent. A wait beyond ``max_wait`` ends the pull at once with a :class:`SourceError`
that says so (the next sync resumes); tenacity runs the loop, with ``sleep`` passed in so tests
never wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import tenacity

from clearance.errors import SourceError

__all__ = ["RetryableError", "retry_vendor"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class RetryableError(Exception):
    """An attempt that may be retried: what failed, the wait the API asked for (if any), and the
    error to raise when the retries are spent."""

    def __init__(self, failure: str, told: float | None, error: SourceError) -> None:
        super().__init__(failure)
        self.failure = failure
        self.told = told
        self.error = error


def retry_vendor(
    attempt: Callable[[], T],
    *,
    source: str,
    max_retries: int,
    max_wait: float,
    backoff: Callable[[tenacity.RetryCallState], float],
    sleep: Callable[[float], None],
) -> T:
    """``attempt()``, tried again up to ``max_retries`` times while it raises
    :class:`RetryableError`, waiting what the API asked for, else ``backoff``."""

    def delay(state: tenacity.RetryCallState) -> float:
        again = _last(state)
        wait = again.told if again.told is not None else backoff(state)
        if wait > max_wait:
            raise SourceError(
                source,
                f"{again.failure}: asked to wait {wait:.0f}s, beyond max_wait "
                f"({max_wait:.0f}s); the next sync will resume",
            )
        log.info("source %s: %s; retrying in %.1fs", source, again.failure, wait)
        return wait

    def give_up(state: tenacity.RetryCallState) -> T:
        """The retries are spent: raise the last attempt's own error, chained to its cause."""
        again = _last(state)
        raise again.error from again.__cause__

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(RetryableError),
        stop=tenacity.stop_after_attempt(max_retries + 1),
        wait=delay,
        sleep=sleep,
        retry_error_callback=give_up,
    )
    result: T = retrying(attempt)
    return result


def _last(state: tenacity.RetryCallState) -> RetryableError:
    again = state.outcome.exception() if state.outcome is not None else None
    assert isinstance(again, RetryableError)  # the only exception retried
    return again
