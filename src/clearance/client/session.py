"""The one HTTP client of the Clearance service: timeouts, retries and errors in one place.

* **Timeouts**: ``Peer.SERVICE``'s, from :mod:`clearance.http_client` (where every outbound
  client is made); a decision's request carries its read timeout as ``X-Clearance-Timeout``.
* **Retries** (tenacity): a connection that could not be made is retried for every request (it
  was never sent); any other transport failure only for reads, since a ``POST /v1/decisions``
  that timed out may have been recorded. 429 and 503 (the service said "not now", nothing was
  recorded) wait what ``Retry-After`` says, in seconds or as an HTTP date (RFC 9110 §10.2.3),
  capped at :data:`MAX_RETRY_AFTER`; else jittered exponential backoff. :data:`ATTEMPTS` tries in
  all, then the last answer or failure is reported.
* **Errors**: a 4xx is :class:`ServiceRefusedError` with the service's own problem detail; an
  unknown environment or malformed target :class:`TargetError`; the rest
  :class:`ServiceUnavailableError`. The bearer is replaced by ``***`` in every message, whatever
  a server or proxy echoes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import tenacity

from clearance.client.answers import Answer, Question
from clearance.client.credentials import Mask, bearer, server_url, shown
from clearance.errors import (
    ConfigError,
    ServiceRefusedError,
    ServiceUnavailableError,
    TargetError,
)
from clearance.http_client import Peer, http_client, retry_after
from clearance.model.standing import CLEARED

log = logging.getLogger(__name__)

ATTEMPTS = 4
MAX_RETRY_AFTER = 60.0
# 0.5 s, 1 s, 2 s … (at most 10 s), each plus up to 0.5 s of jitter so that pipelines that
# failed together do not come back together.
BACKOFF = tenacity.wait_exponential(multiplier=0.5, max=10.0) + tenacity.wait_random(0, 0.5)
_BUSY = (429, 503)
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)

Progress = Callable[[Answer, float], None]


class ServiceClient:
    """A session with one Clearance service. Use as a context manager, or ``close()`` it."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._sleep = sleep
        self._clock = clock
        self._http = http_client(
            Peer.SERVICE,
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            transport=transport,
        )

    @classmethod
    def connect(
        cls, server: str | None, env: Mapping[str, str], mask: Mask, **options: Any
    ) -> ServiceClient:
        """The service named by ``server`` or ``$CLEARANCE_SERVER``, with the environment's
        credential (``clearance.client.credentials``); ConfigError says what is missing."""
        url = server_url(server, env)
        if url is None:
            raise ConfigError("no service named: pass --server URL or set $CLEARANCE_SERVER")

        def fetch(address: str, secret: str) -> object:
            with cls(address, secret, **options) as oidc:
                return oidc._call("GET", address, "the GitHub Actions OIDC token endpoint")

        return cls(url, bearer(url, env, mask, fetch), **options)

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- the API ---------------------------------------------------------------------------

    def decide(self, question: Question) -> Answer:
        """``POST /v1/decisions``: decided, recorded, and where it stands.

        The request says how long this client waits for the answer (``X-Clearance-Timeout``,
        its read timeout), so a busy service refuses it (429, retried as above) rather than
        deciding and recording an answer this client will have stopped waiting for."""
        wait = self._http.timeout.read
        headers = {} if wait is None else {"X-Clearance-Timeout": f"{wait:g}"}
        body = self.call("POST", "/v1/decisions", json=question.to_json(), headers=headers)
        return Answer.from_json(body, self.where)

    def standing(self, decision_id: str) -> Answer:
        """``GET /v1/decisions/{id}``: the recorded decision and its status as of now."""
        return Answer.from_json(self.call("GET", f"/v1/decisions/{decision_id}"), self.where)

    def wait(
        self, question: Question, answer: Answer, *, timeout: float, poll: float,
        progress: Progress | None = None,
    ) -> Answer:  # fmt: skip
        """Poll a pending decision until it is approved, rejected or ``timeout`` seconds pass.

        Once approved (or covered by a break-glass) the question is asked again, because an
        approval counts only while its evidence holds: a fresh decision that says the approval
        was voided is waited on in turn. Returns the last answer, still pending on a timeout.
        """
        started = self._clock()
        while answer.pending and (elapsed := self._clock() - started) < timeout:
            if progress is not None:
                progress(answer, elapsed)
            self._sleep(min(poll, timeout - elapsed))
            current = self.standing(answer.decision.id)
            if current.standing.status in CLEARED:
                current = self.decide(question)  # does the evidence still hold?
            answer = current
        return answer

    def answer(self, decision_id: str, outcome: str, reason: str) -> tuple[dict[str, Any], Answer]:
        """Approve or reject: the approval recorded, and the decision's standing after it."""
        body = self.call(
            "POST",
            f"/v1/decisions/{decision_id}/approvals",
            json={"outcome": outcome, "reason": reason},
        )
        return dict(body["approval"]), Answer.from_json(body["decision"], self.where)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call with the retries above; the parsed JSON body, or one of our errors."""
        return self._call(method, path, self.where, **kwargs)

    @property
    def where(self) -> str:
        return shown(self.url)

    # --- transport -------------------------------------------------------------------------

    def _call(self, method: str, path: str, where: str, **kwargs: Any) -> Any:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(ATTEMPTS),
            wait=_pause,
            retry=(
                tenacity.retry_if_exception(lambda exc: _retryable(exc, method))
                | tenacity.retry_if_result(lambda r: r.status_code in _BUSY)
            ),
            sleep=self._sleep,
            before_sleep=lambda state: log.info(
                "%s %s: attempt %d failed; retrying", method, path, state.attempt_number
            ),
            # After the last attempt: that attempt's answer, or its exception re-raised.
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        try:
            response: httpx.Response = retrying(self._http.request, method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(
                self._redact(f"cannot reach {where} ({type(exc).__name__}: {exc})")
            ) from exc
        return self._result(response, where)

    def _result(self, response: httpx.Response, where: str) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        status = response.status_code
        if response.is_success:
            if body is None:
                raise ServiceUnavailableError(f"{where} answered {status} without a JSON body")
            return body
        problem = body if isinstance(body, dict) else {}
        title = str(problem.get("title") or response.reason_phrase)
        detail = str(problem.get("detail") or response.text[:300] or "no detail")
        message = self._redact(f"{where} answered {status} {title}: {detail}")
        if status == 422 and title == "invalid target":
            raise TargetError(message)
        if 400 <= status < 500:
            raise ServiceRefusedError(message, status)
        raise ServiceUnavailableError(message, status)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def _retryable(exc: BaseException, method: str) -> bool:
    if isinstance(exc, _NOT_SENT):
        return True
    return method == "GET" and isinstance(exc, httpx.TransportError)


def _pause(state: tenacity.RetryCallState) -> float:
    outcome = state.outcome
    if outcome is not None and not outcome.failed:
        response: httpx.Response = outcome.result()
        after = retry_after(response.headers.get("retry-after"), time.time())
        if after is not None:
            return min(after, MAX_RETRY_AFTER)
    return BACKOFF(state)
