"""The HTTP layer the REST sources share (Defender, SentinelOne, Wazuh): one client, one retry
policy, one way to turn a vendor's error into a :class:`SourceError`.

* **Retries.** Connection failures, timeouts and 5xx are retried with jittered exponential
  backoff (``base × 2^attempt × [0.5, 1)``, capped). HTTP 429 waits what ``Retry-After`` says
  (seconds or an HTTP date, RFC 9110 §10.2.3), else backs off the same way. ``sleep`` and
  ``random`` are injected, so tests never wait and the jitter is reproducible.
* **Errors.** A failing status becomes ``HTTP 401 from api.example.com/api/alerts: <vendor
  message> (tip: …)``. The vendor message is read from the shapes the sources speak (Microsoft
  ``{"error": {"code", "message"}}``, SentinelOne ``{"errors": [{"title", "detail"}]}``,
  OpenSearch ``{"error": {"reason"}}``, OAuth ``error_description``); an HTML page says a proxy
  or gateway answered instead of the API. The query string is never echoed (it can carry
  tokens), and every secret the client holds is masked out of any text it raises or logs.
* **Auth.** ``auth`` is a callable returning headers, called per request, so an OAuth2 token
  refreshes itself; a 401 asks it to ``invalidate`` once and retries (a token revoked early).
"""

from __future__ import annotations

import base64
import email.utils
import logging
import random as _random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import SecretStr, ValidationError

from clearance.errors import InvalidAssetError, InvalidSignalError, SourceError
from clearance.model.signal import Signal
from clearance.sources._mapping import (
    RejectedError,
    canonical_bytes,
    parse_json,
    validation_detail,
)
from clearance.sources.interface import Quarantined, payload_digest

__all__ = [
    "Auth",
    "HttpClient",
    "OAuth2ClientCredentials",
    "RejectedError",
    "RetryPolicy",
    "StaticAuth",
    "map_page",
    "read_items",
    "retry_after",
]

log = logging.getLogger(__name__)

_TIPS = {
    401: "check the credentials in clearance.yaml",
    403: "check the API client's permissions or roles",
    404: "check base_url",
}
_MESSAGE_LIMIT = 200


class Auth(Protocol):
    """Supplies request headers. After a 401, ``invalidate`` drops a cached credential and says
    whether asking again could help (a fresh token could; a fixed API key could not)."""

    def headers(self) -> dict[str, str]: ...

    def invalidate(self) -> bool: ...


class StaticAuth:
    """A fixed credential in one header: ``Authorization: ApiToken …`` or HTTP Basic."""

    def __init__(self, scheme: str, credential: SecretStr, header: str = "Authorization") -> None:
        self._header = header
        self._scheme = scheme
        self._credential = credential

    @classmethod
    def basic(cls, username: str, password: SecretStr) -> StaticAuth:
        pair = f"{username}:{password.get_secret_value()}".encode()
        return cls("Basic", SecretStr(base64.b64encode(pair).decode()))

    def __repr__(self) -> str:
        return f"StaticAuth({self._scheme!r}, **********)"

    def headers(self) -> dict[str, str]:
        return {self._header: f"{self._scheme} {self._credential.get_secret_value()}"}

    def invalidate(self) -> bool:
        return False


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

    def backoff_delay(self, attempt: int) -> float:
        """Jittered exponential backoff: ``base × 2^attempt × [0.5, 1)``, capped."""
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt)
        return ceiling * (0.5 + self.random() / 2)


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or HTTP date), if usable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


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
        timeout: float = 30.0,
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
        self._client = httpx.Client(
            timeout=timeout, verify=verify, transport=transport, follow_redirects=False
        )

    def __repr__(self) -> str:
        return f"HttpClient(source={self.source!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    def url(self, path: str) -> str:
        """An absolute URL: a vendor's next-page link is used as given, a path is joined."""
        return path if "://" in path else urljoin(self.base_url, path.lstrip("/"))

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
    ) -> Any:
        """Send one request (retrying as the policy says) and return the parsed JSON body."""
        url = self.url(path)
        where = self._where(url)
        renewed = False
        attempt = 0
        while True:
            sent = dict(headers or {})
            if authenticate and self.auth is not None:
                sent.update(self.auth.headers())
            try:
                response = self._client.request(
                    method, url, params=params, json=json, data=data, headers=sent
                )
            except httpx.TimeoutException as exc:
                failure = f"timed out talking to {where}"
                if self._wait(attempt, None, failure):
                    attempt += 1
                    continue
                raise SourceError(self.source, failure) from exc
            except httpx.HTTPError as exc:
                failure = f"cannot reach {where}: {type(exc).__name__}"
                if self._wait(attempt, None, failure):
                    attempt += 1
                    continue
                raise SourceError(self.source, self._mask(failure)) from exc
            status = response.status_code
            if 200 <= status < 300:
                return self._parse(response, where)
            if status == 401 and authenticate and self.auth is not None and not renewed:
                renewed = True  # a token revoked or expired early: one fresh token, one retry
                if self.auth.invalidate():
                    continue
            if status == 429 or status >= 500:
                told = retry_after(response.headers.get("retry-after"), self.retry.clock())
                if self._wait(attempt, told, f"HTTP {status} from {where}"):
                    attempt += 1
                    continue
            raise self.error(status, where, response)

    def _wait(self, attempt: int, told: float | None, failure: str) -> bool:
        """Sleep before the next attempt; False when retries are spent."""
        if attempt >= self.retry.max_retries:
            return False
        delay = told if told is not None else self.retry.backoff_delay(attempt)
        if delay > self.retry.max_wait:
            raise SourceError(
                self.source,
                f"{failure}: asked to wait {delay:.0f}s, beyond max_wait "
                f"({self.retry.max_wait:.0f}s); the next sync will resume",
            )
        log.info("source %s: %s; retrying in %.1fs", self.source, failure, delay)
        self.retry.sleep(delay)
        return True

    def _parse(self, response: httpx.Response, where: str) -> Any:
        try:
            return parse_json(response.content)
        except ValueError as exc:
            kind = "an HTML page" if _is_html(response) else "a body that is not JSON"
            raise SourceError(
                self.source,
                f"HTTP {response.status_code} from {where} carried {kind} "
                "(tip: a proxy or gateway may be answering instead of the API)",
            ) from exc

    def error(self, status: int, where: str, response: httpx.Response) -> SourceError:
        """The SourceError for a failing response: status, place, vendor message, tip."""
        message = _vendor_message(response)
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


def _is_html(response: httpx.Response) -> bool:
    ctype = response.headers.get("content-type", "").lower()
    return "html" in ctype or response.content.lstrip()[:1] == b"<"


def _vendor_message(response: httpx.Response) -> str:
    """The vendor's own words about the failure, short and on one line."""
    if _is_html(response):
        return "an HTML page answered (a proxy or gateway, not the API)"
    try:
        body = parse_json(response.content)
    except ValueError:
        text = response.text.strip()
        return _short(text) if text else ""
    return _short(_message_in(body))


def _message_in(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # Microsoft / OData, OpenSearch
            for key in ("message", "reason"):
                if isinstance(error.get(key), str):
                    code = error.get("code") or error.get("type")
                    return f"{code}: {error[key]}" if isinstance(code, str) else error[key]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):  # SentinelOne
            first = errors[0]
            parts = [str(first[k]) for k in ("title", "detail") if first.get(k)]
            return " - ".join(parts)
        if isinstance(body.get("error_description"), str):  # OAuth 2.0 token endpoint
            return str(body["error_description"]).splitlines()[0]
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return ""


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 1] + "…"


class OAuth2ClientCredentials:
    """OAuth 2.0 client-credentials tokens (RFC 6749 §4.4), fetched on first use and renewed
    ``renew_window`` seconds before ``expires_in`` runs out. The token request goes through
    ``client`` (its retries and error mapping) without auth headers of its own."""

    def __init__(
        self,
        client: HttpClient,
        token_url: str,
        *,
        client_id: str,
        client_secret: SecretStr,
        scope: str,
        renew_window: float = 300.0,
    ) -> None:
        self._client = client
        self._token_url = token_url
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "scope": scope}
        self._secret = client_secret
        self._renew_window = renew_window
        self._token: SecretStr | None = None
        self._expires_at = 0.0
        self.requests = 0

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={self._token_url!r})"

    def headers(self) -> dict[str, str]:
        now = self._client.retry.clock()
        if self._token is None or now >= self._expires_at - self._renew_window:
            self._fetch(now)
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    def invalidate(self) -> bool:
        self._token = None
        return True

    def _fetch(self, now: float) -> None:
        self.requests += 1
        form = {**self._form, "client_secret": self._secret.get_secret_value()}
        body = self._client.request_json("POST", self._token_url, data=form, authenticate=False)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise SourceError(self._client.source, "token endpoint answered without access_token")
        lifetime = body.get("expires_in", 3599)
        try:
            seconds = float(lifetime)
        except (TypeError, ValueError):
            seconds = 3599.0
        self._token = SecretStr(token)
        self._expires_at = now + seconds


# --- pages of vendor items (shared by the REST adapters' mappings and file normalizers) -------

_Mapper = Callable[[dict[str, Any], str], Signal]


def map_page(
    items: Sequence[Any], map_one: _Mapper, *, source: str, location: str
) -> tuple[list[Signal], list[Quarantined]]:
    """Map each item with ``map_one(item, raw_digest)``; an item it rejects (RejectedError, a
    pydantic ValidationError, an invalid signal or asset) is quarantined with its reason and
    sha256 digest, and never costs its neighbours."""
    signals: list[Signal] = []
    quarantined: list[Quarantined] = []
    for index, item in enumerate(items):
        raw = canonical_bytes(item)
        digest = payload_digest(raw)
        reason, detail = "", ""
        try:
            if not isinstance(item, dict):
                raise RejectedError(
                    "invalid_item", f"expected an object, got {type(item).__name__}"
                )
            signals.append(map_one(item, digest))
            continue
        except RejectedError as exc:
            reason, detail = exc.reason, exc.detail
        except ValidationError as exc:
            reason, detail = "invalid_field", validation_detail(exc)
        except (InvalidSignalError, InvalidAssetError) as exc:
            reason, detail = "invalid_value", str(exc)
        quarantined.append(Quarantined(source, reason, detail, digest, f"{location}[{index}]", raw))
    return signals, quarantined


def read_items(
    data: bytes, *, source: str, location: str, keys: Sequence[str]
) -> tuple[list[Any], str, Quarantined | None]:
    """The items of an export file: a JSON list, an API response page holding its list under
    one of ``keys``, or JSON Lines. Returns ``(items, where, problem)``; a file that is none of
    these is one quarantined entry (``invalid_json`` or ``invalid_shape``)."""
    where = location or "file"
    try:
        parsed = parse_json(data)
    except ValueError:
        lines = [line for line in data.splitlines() if line.strip()]
        if len(lines) > 1:  # JSON Lines: a bad line is an item to quarantine, not the file
            return [_line(line) for line in lines], f"{where}: line", None
        bad = Quarantined(source, "invalid_json", "not JSON", payload_digest(data), where, data)
        return [], where, bad
    if isinstance(parsed, list):
        return parsed, where, None
    if isinstance(parsed, dict):
        for key in keys:
            if isinstance(parsed.get(key), list):
                return parsed[key], f"{where}: {key}", None
        return [parsed], where, None
    detail = f"expected a list of items or a response page, got {type(parsed).__name__}"
    return (
        [],
        where,
        Quarantined(source, "invalid_shape", detail, payload_digest(data), where, data),
    )


def _line(line: bytes) -> Any:
    try:
        return parse_json(line)
    except ValueError:
        return line.decode("utf-8", "replace")
