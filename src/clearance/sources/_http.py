"""The HTTP layer the REST sources share (Defender, SentinelOne, Wazuh): one client, one retry
policy, one way to turn a vendor's error into a :class:`SourceError`.

* **Retries** (tenacity, through :mod:`clearance.sources._retry`). Connection failures,
  timeouts and 5xx are retried with jittered exponential backoff (``base × 2^attempt ×
  [0.5, 1)``, capped). HTTP 429 waits what ``Retry-After`` says (seconds or an HTTP date,
  RFC 9110 §10.2.3), else backs off the same way. ``sleep`` and ``random`` are injected, so
  tests never wait and the jitter is reproducible.
* **Errors.** A failing status becomes ``HTTP 401 from api.example.com/api/alerts: <vendor
  message> (tip: …)``. The vendor message is read from the shapes the sources speak (Microsoft
  ``{"error": {"code", "message"}}``, SentinelOne ``{"errors": [{"title", "detail"}]}``,
  OpenSearch ``{"error": {"reason"}}``, OAuth ``error_description``); an HTML page says a proxy
  or gateway answered instead of the API. The query string is never echoed (it can carry
  tokens), and every secret the client holds is masked out of any text it raises or logs.
* **Auth.** ``auth`` supplies headers per request, so an OAuth2 token refreshes itself; a 401
  asks it to ``invalidate`` once and retries (a token revoked early). The credentials themselves
  live in :mod:`clearance.sources._auth`.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Protocol, TypedDict, Unpack
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import SecretStr

from clearance.errors import SourceError
from clearance.http_client import Peer, http_client, retry_after
from clearance.retries import jittered_backoff
from clearance.sources._mapping import parse_json
from clearance.sources._retry import RetryableError, retry_vendor
from clearance.sources._vendor_errors import is_html, vendor_message

__all__ = ["Auth", "HttpClient", "RequestOptions", "RetryPolicy", "retry_after"]

_TIPS = {
    401: "check the credentials in clearance.yaml",
    403: "check the API client's permissions or roles",
    404: "check base_url",
}


class Auth(Protocol):
    """Supplies request headers. After a 401, ``invalidate`` drops a cached credential and says
    whether asking again could help (a fresh token could; a fixed API key could not)."""

    def headers(self) -> dict[str, str]: ...

    def invalidate(self) -> bool: ...


class RequestOptions(TypedDict, total=False):
    """What a request may carry besides its method and path; ``authenticate`` (default true)
    sends the ``auth`` headers."""

    params: Mapping[str, str | int] | None
    json: Any
    data: Mapping[str, str] | None
    headers: Mapping[str, str] | None
    authenticate: bool
    auth: Auth | None  # this request's credential instead of the client's (another API audience)


class RetryPolicy:
    """How often and how long to retry. ``max_wait`` caps one wait, including a Retry-After."""

    def __init__(
        self,
        *,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_wait: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.random = random
        self.clock = clock

        # Jittered exponential backoff: ``base × 2^attempt × [0.5, 1)``, capped.
        self.backoff_wait = jittered_backoff(backoff, max_backoff, random)


class HttpClient:
    """One vendor API: base URL, auth, timeouts, retries and error mapping.

    ``secrets`` are masked out of every message this client raises or logs.
    """

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: float | None = None,
        verify: bool = True,
        retry: RetryPolicy | None = None,
        secrets: Iterable[SecretStr] = (),
        transport: httpx.BaseTransport | None = None,
        tips: Mapping[int, str] | None = None,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/") + "/"
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self._secrets = [s.get_secret_value() for s in secrets if s.get_secret_value()]
        self._tips = {**_TIPS, **(tips or {})}
        self._client = http_client(
            Peer.VENDOR_API, timeout=timeout, verify=verify, transport=transport
        )

    def __repr__(self) -> str:
        return f"HttpClient(source={self.source!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    def url(self, path: str) -> str:
        """An absolute URL: a vendor's next-page link is used as given, a path is joined."""
        return path if "://" in path else urljoin(self.base_url, path.lstrip("/"))

    def request_json(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Any:
        """Send one request (retrying as the policy says) and return the parsed JSON body."""
        response = self.request(method, path, **options)
        return self._parse(response, self._where(self.url(path)))

    def request(
        self,
        method: str,
        path: str,
        *,
        accept: Collection[int] = (),
        **options: Unpack[RequestOptions],
    ) -> httpx.Response:
        """Send one request (retrying as the policy says) and return a 2xx response, or one whose
        status is in ``accept`` (a 304 to a conditional GET); any other status is raised."""
        headers, authenticate = options.get("headers"), options.get("authenticate", True)
        params, json, data = options.get("params"), options.get("json"), options.get("data")
        url = self.url(path)
        where = self._where(url)
        renewed = False
        auth = options.get("auth")
        credential = auth if auth is not None else self.auth

        def attempt() -> httpx.Response:
            nonlocal renewed
            while True:  # at most twice: once more after a 401 with a renewed credential
                sent = dict(headers or {})
                if authenticate and credential is not None:
                    sent.update(credential.headers())
                try:
                    response = self._client.request(
                        method, url, params=params, json=json, data=data, headers=sent
                    )
                except httpx.TimeoutException as exc:
                    failure = f"timed out talking to {where}"
                    raise RetryableError(failure, None, SourceError(self.source, failure)) from exc
                except httpx.HTTPError as exc:
                    failure = self._mask(f"cannot reach {where}: {type(exc).__name__}")
                    raise RetryableError(failure, None, SourceError(self.source, failure)) from exc
                status = response.status_code
                if 200 <= status < 300 or status in accept:
                    return response
                if status == 401 and authenticate and credential is not None and not renewed:
                    renewed = True  # a token revoked or expired early: one fresh token, one retry
                    if credential.invalidate():
                        continue
                error = self.error(status, where, response)
                if status == 429 or status >= 500:
                    told = retry_after(response.headers.get("retry-after"), self.retry.clock())
                    raise RetryableError(f"HTTP {status} from {where}", told, error)
                raise error

        return retry_vendor(
            attempt,
            source=self.source,
            max_retries=self.retry.max_retries,
            max_wait=self.retry.max_wait,
            backoff=self.retry.backoff_wait,
            sleep=self.retry.sleep,
        )

    def _parse(self, response: httpx.Response, where: str) -> Any:
        try:
            return parse_json(response.content)
        except ValueError as exc:
            kind = "an HTML page" if is_html(response) else "a body that is not JSON"
            raise SourceError(
                self.source,
                f"HTTP {response.status_code} from {where} carried {kind} "
                "(tip: a proxy or gateway may be answering instead of the API)",
            ) from exc

    def error(self, status: int, where: str, response: httpx.Response) -> SourceError:
        """The SourceError for a failing response: status, place, vendor message, tip."""
        message = vendor_message(response)
        text = f"HTTP {status} from {where}" + (f": {message}" if message else "")
        tip = self._tips.get(status)
        if tip:
            text += f" (tip: {tip})"
        return SourceError(self.source, self._mask(text))

    def _where(self, url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.netloc}{parts.path}"

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
