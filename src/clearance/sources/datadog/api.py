"""The Datadog monitors API through the official ``datadog-api-client``: pages of raw monitors,
each parsed by the SDK's ``Monitor`` model on its own, with 429s, 5xx and transport failures
retried (:func:`clearance.sources._retry.retry_vendor`: ``x-ratelimit-reset`` when Datadog
says how long, else jittered backoff).

The SDK is asked for the raw response (``preload_content=False``): decoding a whole page into
typed models would lose the page to one malformed monitor. It still sends the keys
(``DD-API-KEY``, ``DD-APPLICATION-KEY``), picks the site's host, and raises its
``ApiException`` for an error status (``status`` 0 for a transport failure), which is mapped
here to a :class:`SourceError` with a tip and the keys masked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from clearance.errors import SourceError
from clearance.retries import jittered_backoff
from clearance.sources._retry import RetryableError, retry_vendor

__all__ = ["MonitorsClient", "Retry"]

_TIPS = {
    401: "check api_key",
    403: "check api_key and app_key (the application key needs the monitors_read scope)",
    404: "check site (datadoghq.com, datadoghq.eu, us3/us5.datadoghq.com, ap1.datadoghq.com)",
}


@dataclass(frozen=True, slots=True)
class Retry:
    """How many times a 429 or 5xx is retried, the longest wait allowed, and the seams."""

    max_retries: int
    max_wait: float
    sleep: Callable[[float], None]
    random: Callable[[], float]


class MonitorsClient:
    def __init__(
        self,
        source: str,
        *,
        site: str,
        base_url: str | None,
        api_key: SecretStr,
        app_key: SecretStr,
        retry: Retry,
        timeout: float,
        verify: bool,
    ) -> None:
        from datadog_api_client import ApiClient, Configuration  # noqa: PLC0415 - the extra
        from datadog_api_client.v1.api.monitors_api import MonitorsApi  # noqa: PLC0415

        self.name = source
        self._retry = retry
        # 2^attempt seconds (at most 60) × [0.5, 1.5)
        self._backoff = jittered_backoff(1.0, 60.0, retry.random, spread=(0.5, 1.5))
        settings = Configuration(  # type: ignore[no-untyped-call]
            host=base_url.rstrip("/") if base_url else None,
            request_timeout=timeout,
            preload_content=False,  # the raw page: each monitor is parsed on its own
        )
        if base_url is None:
            settings.server_variables["site"] = site
        settings.verify_ssl = verify
        settings.api_key["apiKeyAuth"] = api_key.get_secret_value()
        settings.api_key["appKeyAuth"] = app_key.get_secret_value()
        self._client = ApiClient(settings)
        self._monitors = MonitorsApi(self._client)  # type: ignore[no-untyped-call]
        self._secrets = [api_key.get_secret_value(), app_key.get_secret_value()]

    def __repr__(self) -> str:
        return f"MonitorsClient(source={self.name!r})"

    def close(self) -> None:
        self._client.close()

    def monitor(self, item: Any) -> Any:
        """One raw monitor through the SDK's ``Monitor`` model (its errors propagate)."""
        from datadog_api_client.v1.model.monitor import Monitor  # noqa: PLC0415

        return self._client.deserialize(json.dumps(item), (Monitor,), True)

    def page(self, page: int, size: int, tags: Sequence[str]) -> list[Any]:
        """One page of monitors as raw JSON objects, retrying 429s, 5xx and transport failures."""
        kwargs: dict[str, Any] = {"page": page, "page_size": size}
        if tags:
            kwargs["monitor_tags"] = ",".join(tags)
        return self._page(kwargs)

    def _page(self, kwargs: dict[str, Any]) -> list[Any]:
        return retry_vendor(
            lambda: self._attempt(kwargs),
            source=self.name,
            max_retries=self._retry.max_retries,
            max_wait=self._retry.max_wait,
            backoff=self._backoff,
            sleep=self._retry.sleep,
        )

    def _attempt(self, kwargs: dict[str, Any]) -> list[Any]:
        from datadog_api_client.exceptions import OpenApiException  # noqa: PLC0415
        from urllib3.exceptions import HTTPError  # noqa: PLC0415 - the SDK's transport

        try:
            # preload_content=False: the urllib3 response, not the typed list
            response: Any = self._monitors.list_monitors(**kwargs)
        except HTTPError as exc:
            name = type(exc).__name__
            error = SourceError(self.name, self._mask(f"cannot reach the Datadog API: {name}"))
            raise RetryableError(f"cannot reach the Datadog API ({name})", None, error) from exc
        except OpenApiException as exc:
            # The SDK raises its ApiException for an error status even with the raw
            # response asked for (and with status 0 for a transport failure).
            status = int(getattr(exc, "status", 0) or 0)
            if not status:
                reason = getattr(exc, "reason", None) or type(exc).__name__
                raise SourceError(
                    self.name, self._mask(f"cannot reach the Datadog API: {reason}")
                ) from exc
            headers = {str(k).lower(): v for k, v in (getattr(exc, "headers", None) or {}).items()}
            body = getattr(exc, "body", None)
            response = _Answer(
                status, headers, json.dumps(body).encode() if body is not None else b""
            )
        status = int(response.status)
        if not 200 <= status < 300:
            error = SourceError(self.name, self._error(status, response.data))
            if status == 429 or status >= 500:
                told = _reset_seconds(response.headers.get("x-ratelimit-reset"))
                raise RetryableError(f"HTTP {status} from /api/v1/monitor", told, error)
            raise error
        try:
            body = json.loads(response.data)
        except ValueError as exc:
            raise SourceError(
                self.name,
                f"/api/v1/monitor answered HTTP {status} with a body that is not JSON",
            ) from exc
        if not isinstance(body, list):
            raise SourceError(self.name, "/api/v1/monitor: the answer is not a list of monitors")
        return body

    def _error(self, status: int, data: bytes) -> str:
        message = ""
        try:
            errors = json.loads(data).get("errors")
            if isinstance(errors, list):
                message = "; ".join(str(e) for e in errors)[:300]
        except (ValueError, AttributeError):
            pass
        text = f"HTTP {status} from /api/v1/monitor" + (f": {message}" if message else "")
        if tip := _TIPS.get(status):
            text += f" (tip: {tip})"
        return self._mask(text)

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


@dataclass(frozen=True, slots=True)
class _Answer:
    """An error status the SDK raised, in the shape of the raw response it returns."""

    status: int
    headers: dict[str, Any]
    data: bytes


def _reset_seconds(value: object) -> float | None:
    try:
        seconds = float(str(value))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
