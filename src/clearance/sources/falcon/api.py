"""The Falcon API as FalconPy serves it, made to behave like the other sources' clients: a login
pinned to the configured URL, calls that wait out 429s (until ``X-Ratelimit-Retryafter``, an
epoch time, not a delay) and renew a rejected token once, and every refusal — FalconPy returns
``{"status_code", "headers", "body"}`` instead of raising — a :class:`SourceError` naming the
source, the call and the HTTP status, never the secret. FalconPy is imported on first use, so
``clearance check`` never loads it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import tenacity

from clearance.errors import SourceError

if TYPE_CHECKING:
    from clearance.sources.falcon.source import FalconConfig

__all__ = ["FalconApi"]

log = logging.getLogger(__name__)

# What to tell the user for each failing status (scopes per the API client page in Falcon).
_HINTS = {
    401: "check client_id and client_secret",
    403: "check the API client's scopes (Alerts: Read, Hosts: Read) and member_cid",
    404: "check base_url (the cloud region of this CID)",
}


class FalconApi:
    """One Falcon API client for source ``source``; ``clock`` and ``sleep`` are injected."""

    def __init__(
        self,
        source: str,
        config: FalconConfig,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.source = source
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._services: tuple[Any, Any, Any] | None = None
        self._session: Any = None  # the requests.Session FalconPy sends through
        # The last X-RateLimit-Limit / X-RateLimit-Remaining seen, for health reporting.
        self.rate_limit: tuple[int | None, int | None] = (None, None)

    def services(self) -> tuple[Any, Any]:
        """FalconPy's ``Alerts`` and ``Hosts`` service classes, logged in on first use."""
        alerts, hosts, _ = self._connect()
        return alerts, hosts

    def _connect(self) -> tuple[Any, Any, Any]:
        if self._services is None:
            try:
                import requests  # noqa: PLC0415 - installed with falconpy
                from falconpy import Alerts, Hosts, OAuth2  # noqa: PLC0415 - optional extra
            except ImportError as exc:
                raise SourceError(
                    self.source, "FalconPy is not installed; install clearance[crowdstrike]"
                ) from exc
            cfg = self.config
            pinned = cfg.base_url.rstrip("/") if "://" in cfg.base_url else None

            class PinnedOAuth2(OAuth2):
                """FalconPy's region autodiscovery, run on every login including its own
                renewals, swaps a custom URL (an egress proxy, a stand-in) for the cloud named
                in the token response's X-Cs-Region header (falconpy ``autodiscover_region``).
                An explicit URL is meant literally, so it is put back after each login."""

                def login(self) -> Any:
                    result = super().login()
                    if pinned:
                        self.base_url = pinned
                    return result

            if self._session is None:
                self._session = requests.Session()
            auth = PinnedOAuth2(
                client_id=cfg.client_id,
                client_secret=cfg.client_secret.get_secret_value(),
                base_url=cfg.base_url,
                member_cid=cfg.member_cid,
                ssl_verify=cfg.ssl_verify,
                timeout=cfg.timeout,
                user_agent="clearance",
                session=self._session,
            )
            self._login(auth)
            # Built after a successful login, so they do not log in again on their own.
            self._services = (Alerts(auth_object=auth), Hosts(auth_object=auth), auth)
        return self._services

    def close(self) -> None:
        """Close FalconPy's HTTP session; a later call logs in on a new one."""
        if self._session is not None:
            self._session.close()
            self._session = None
        self._services = None

    def _login(self, auth: Any) -> None:
        """Request a token now; a refusal (FalconPy returns it, never raises) is a SourceError."""
        result = auth.login()
        status = result.get("status_code") if isinstance(result, dict) else None
        if status != 201:
            self._services = None
            raise self._error("authentication", status, result, hint=401)

    def call(self, what: str, request: Callable[[], Any]) -> dict[str, Any]:
        """Run one FalconPy request: wait out 429s, renew a rejected token once, map errors."""
        renewed = False

        def attempt() -> dict[str, Any]:
            nonlocal renewed
            while True:  # at most twice: once more after a 401 with a renewed token
                result = request()
                if not isinstance(result, dict) or not isinstance(result.get("body"), dict):
                    raise SourceError(
                        self.source, f"{what}: the API answered with something not JSON"
                    )
                status = int(result.get("status_code") or 0)
                headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
                self._note_rate_limit(headers)
                if 200 <= status < 300:
                    body: dict[str, Any] = result["body"]
                    return body
                if status == 429:
                    raise _RateLimitedError(headers, self._error(what, status, result))
                if status == 401 and not renewed and self._services is not None:
                    # Revoked or expired before FalconPy's renew window: one fresh token, again.
                    renewed = True
                    self._login(self._services[2])
                    continue
                raise self._error(what, status, result)

        def wait(state: tenacity.RetryCallState) -> float:
            limited = state.outcome.exception() if state.outcome is not None else None
            assert isinstance(limited, _RateLimitedError)  # the only exception retried
            return self._retry_delay(what, limited.headers, state.attempt_number - 1)

        def give_up(state: tenacity.RetryCallState) -> dict[str, Any]:
            limited = state.outcome.exception() if state.outcome is not None else None
            assert isinstance(limited, _RateLimitedError)
            raise limited.error

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_RateLimitedError),
            stop=tenacity.stop_after_attempt(self.config.max_retries + 1),
            wait=wait,
            sleep=self._sleep,
            retry_error_callback=give_up,
        )
        answer: dict[str, Any] = retrying(attempt)
        return answer

    def _retry_delay(self, what: str, headers: Mapping[str, str], attempt: int) -> float:
        """Seconds until ``X-Ratelimit-Retryafter`` (epoch seconds), else exponential backoff."""
        retry_at = headers.get("x-ratelimit-retryafter")
        try:
            delay = float(retry_at) - self._clock() if retry_at else float(2**attempt)
        except ValueError:
            delay = float(2**attempt)
        delay = max(delay, 0.0)
        if delay > self.config.max_rate_limit_wait:
            raise SourceError(
                self.source,
                f"{what}: HTTP 429 rate limited for {delay:.0f}s more, beyond max_rate_limit_wait "
                f"({self.config.max_rate_limit_wait:.0f}s); the next sync will resume",
            )
        log.info("source %s: %s rate limited, waiting %.1fs", self.source, what, delay)
        return delay

    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        def number(name: str) -> int | None:
            value = headers.get(name, "")
            return int(value) if value.isdigit() else None

        self.rate_limit = (number("x-ratelimit-limit"), number("x-ratelimit-remaining"))

    def _error(self, what: str, status: int | None, result: Any, hint: int = 0) -> SourceError:
        if _unreached(result):
            # No HTTP answer at all: the credentials were never looked at, so do not blame them.
            return SourceError(
                self.source,
                f"{what}: cannot connect to {self.config.base_url}: {_first_message(result)} "
                "(tip: check base_url, the network and any proxy)",
            )
        message = ""
        body = result.get("body") if isinstance(result, dict) else None
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            message = str(errors[0].get("message", ""))[:300]
        secret = self.config.client_secret.get_secret_value()
        if secret:
            message = message.replace(secret, "***")
        text = f"{what}: HTTP {status}" + (f" {message}" if message else "")
        tip = _HINTS.get(hint or status or 0)
        if tip:
            text += f" (tip: {tip})"
        return SourceError(self.source, text)


class _RateLimitedError(Exception):
    """A 429: the rate-limit headers to wait by, and the error to raise once retries are spent."""

    def __init__(self, headers: Mapping[str, str], error: SourceError) -> None:
        super().__init__(str(error))
        self.headers = headers
        self.error = error


def _first_message(result: Any) -> str:
    body = result.get("body") if isinstance(result, dict) else None
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message", ""))[:300]
    return ""


def _unreached(result: Any) -> bool:
    """FalconPy reports a connection it could not make (refused, DNS, TLS, timeout) as a
    made-up HTTP 500 without headers; a server that answered always sends some."""
    return (
        isinstance(result, dict) and result.get("status_code") == 500 and not result.get("headers")
    )
