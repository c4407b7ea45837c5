"""Datadog: monitors in ``Alert`` or ``No Data`` that are about the target, via the official
``datadog-api-client`` (install ``clearance[datadog]``).

* ``GET /api/v1/monitor?page=N&page_size=S[&monitor_tags=…]`` (``MonitorsApi.list_monitors``),
  with the ``DD-API-KEY`` and ``DD-APPLICATION-KEY`` headers the SDK sends, on the configured
  site (``datadoghq.com``, ``datadoghq.eu``, ``us5.datadoghq.com``…). Pages are read until one
  comes back short. The SDK is asked for the raw page, and each monitor is parsed by its
  ``Monitor`` model alone, so one malformed monitor is quarantined, not the page.
* A 429 waits what ``X-RateLimit-Reset`` says (seconds), up to ``max_retries`` times.
* A monitor that leaves the configured states (or is deleted) is stored resolved at the next
  pull (:mod:`clearance.sources._firing`): the watermark is what was firing.
* A refused key (Datadog answers 403 ``{"errors": ["Forbidden"]}``), an unreachable site or
  anything that is not a list of monitors: a :class:`SourceError`, so the ``source_down`` stance
  applies. The keys never appear in a message.

Mapping: :mod:`clearance.sources.datadog.mapping`; docs: ``docs/sources/datadog.md``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from clearance.errors import InvalidAssetError, InvalidSignalError, SourceError
from clearance.model.quarantine import Quarantined, payload_digest
from clearance.model.signal import Signal
from clearance.sources._firing import firing_before, firing_watermark, stopped_firing
from clearance.sources._labels import LabelMapping
from clearance.sources._plugin import checked_config, require_sdk
from clearance.sources.datadog.mapping import (
    DATADOG_LABELS,
    DatadogTarget,
    MonitorState,
    SeverityName,
    check_targets,
    monitor_signal,
)
from clearance.sources.interface import Batch

__all__ = ["DatadogConfig", "DatadogSource"]

_DEFAULT_STATES: tuple[MonitorState, ...] = ("Alert", "No Data")
_TIPS = {
    401: "check api_key",
    403: "check api_key and app_key (the application key needs the monitors_read scope)",
    404: "check site (datadoghq.com, datadoghq.eu, us3/us5.datadoghq.com, ap1.datadoghq.com)",
}


class DatadogConfig(BaseModel):
    """``clearance.yaml`` settings for a ``datadog`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = "datadoghq.com"
    base_url: str | None = None  # instead of the site's API (a proxy; tests)
    api_key: SecretStr
    app_key: SecretStr
    monitor_tags: list[str] = Field(default_factory=list)  # asked of the API: service:checkout
    targets: list[DatadogTarget] = Field(default_factory=list)
    labels: LabelMapping = DATADOG_LABELS
    states: list[MonitorState] = Field(default_factory=lambda: list(_DEFAULT_STATES))
    default_severity: SeverityName = "medium"  # a monitor without a priority
    page_size: int = Field(default=100, ge=1, le=1000)
    timeout: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    max_wait: float = Field(default=300.0, ge=0)
    verify: bool = True

    @model_validator(mode="after")
    def _targets(self) -> DatadogConfig:
        check_targets(self.targets)
        return self


class DatadogSource:
    """A pull source over Datadog's monitors. ``sleep`` and ``clock`` are injectable."""

    Config: ClassVar[type[BaseModel]] = DatadogConfig

    def __init__(
        self,
        name: str,
        config: DatadogConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        random: Callable[[], float] = random.random,
    ) -> None:
        from datadog_api_client import ApiClient, Configuration  # noqa: PLC0415 - the extra
        from datadog_api_client.v1.api.monitors_api import MonitorsApi  # noqa: PLC0415

        self.name = name
        self.config = config
        self._sleep, self._clock, self._random = sleep, clock, random
        settings = Configuration(  # type: ignore[no-untyped-call]
            host=config.base_url.rstrip("/") if config.base_url else None,
            request_timeout=config.timeout,
            preload_content=False,  # the raw page: each monitor is parsed on its own
        )
        if config.base_url is None:
            settings.server_variables["site"] = config.site
        settings.verify_ssl = config.verify
        settings.api_key["apiKeyAuth"] = config.api_key.get_secret_value()
        settings.api_key["appKeyAuth"] = config.app_key.get_secret_value()
        self._client = ApiClient(settings)
        self._monitors = MonitorsApi(self._client)  # type: ignore[no-untyped-call]
        self._secrets = [config.api_key.get_secret_value(), config.app_key.get_secret_value()]

    def __repr__(self) -> str:
        return f"DatadogSource(name={self.name!r}, site={self.config.site!r})"

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> DatadogSource:
        require_sdk(name, "datadog", "datadog_api_client", "datadog")
        return cls(name, checked_config(name, config, DatadogConfig, "datadog"))

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """Monitors in the configured states, a page a batch; then, resolved, those that left
        them since ``watermark``. Only the last batch carries the new watermark."""
        before = firing_before(self.name, watermark)
        now = datetime.fromtimestamp(self._clock(), UTC).replace(microsecond=0)
        firing: list[Signal] = []
        page = 0
        while True:
            items = self._page(page)
            signals, quarantined = self._map(items, page, now)
            firing += signals
            yield Batch(tuple(signals), tuple(quarantined), None)
            if len(items) < self.config.page_size:
                break
            page += 1
        ended = stopped_firing(before, (s.uid for s in firing), now)
        yield Batch(tuple(ended), (), firing_watermark(firing))

    def _map(
        self, items: list[Any], page: int, now: datetime
    ) -> tuple[list[Signal], list[Quarantined]]:
        from datadog_api_client.exceptions import OpenApiException  # noqa: PLC0415
        from datadog_api_client.v1.model.monitor import Monitor  # noqa: PLC0415

        cfg = self.config
        signals: list[Signal] = []
        quarantined: list[Quarantined] = []
        for i, item in enumerate(items):
            reason = ""
            try:
                if not isinstance(item, dict):
                    raise ValueError("a monitor must be a JSON object")
                monitor = self._client.deserialize(json.dumps(item), (Monitor,), True)
                state = str(getattr(monitor.overall_state, "value", monitor.overall_state))
                if state not in cfg.states:
                    continue
                signal = monitor_signal(
                    int(monitor.id),
                    str(monitor.name),
                    state,
                    monitor.get("priority"),
                    [str(t) for t in monitor.get("tags") or []],
                    source=self.name,
                    seen=now,
                    labels=cfg.labels,
                    targets=cfg.targets,
                    default_severity=cfg.default_severity,
                    link=f"{self._app()}/monitors/{int(monitor.id)}",
                )
                if signal is not None:
                    signals.append(signal)
                    continue
                reason = "no_target"
                detail = (
                    f"monitor {monitor.id} ({state}) carries no Kubernetes tag and no "
                    "configured target's tags (tip: add a target for its service/env tags)"
                )
            except (
                OpenApiException, InvalidAssetError, InvalidSignalError,
                ValueError, TypeError, KeyError, AttributeError,
            ) as exc:  # fmt: skip
                reason, detail = "malformed_monitor", str(exc).splitlines()[0][:500]
            raw = json.dumps(item, sort_keys=True, default=str).encode()
            quarantined.append(
                Quarantined(
                    source=self.name,
                    reason=reason,
                    detail=detail,
                    digest=payload_digest(raw),
                    location=f"/api/v1/monitor page {page}[{i}]",
                    payload=raw,
                )
            )
        return signals, quarantined

    def _page(self, page: int) -> list[Any]:
        """One page of monitors as raw JSON objects, waiting out 429s."""
        from datadog_api_client.exceptions import OpenApiException  # noqa: PLC0415
        from urllib3.exceptions import HTTPError  # noqa: PLC0415 - the SDK's transport

        kwargs: dict[str, Any] = {"page": page, "page_size": self.config.page_size}
        if self.config.monitor_tags:
            kwargs["monitor_tags"] = ",".join(self.config.monitor_tags)
        attempt = 0
        while True:
            try:
                # preload_content=False: the urllib3 response, not the typed list
                response: Any = self._monitors.list_monitors(**kwargs)
            except HTTPError as exc:
                if self._wait(
                    attempt, None, f"cannot reach the Datadog API ({type(exc).__name__})"
                ):
                    attempt += 1
                    continue
                raise SourceError(
                    self.name, self._mask(f"cannot reach the Datadog API: {type(exc).__name__}")
                ) from exc
            except OpenApiException as exc:
                # The SDK raises its ApiException for an error status even with the raw
                # response asked for (and with status 0 for a transport failure).
                status = int(getattr(exc, "status", 0) or 0)
                if not status:
                    reason = getattr(exc, "reason", None) or type(exc).__name__
                    raise SourceError(
                        self.name, self._mask(f"cannot reach the Datadog API: {reason}")
                    ) from exc
                headers = {
                    str(k).lower(): v for k, v in (getattr(exc, "headers", None) or {}).items()
                }
                body = getattr(exc, "body", None)
                response = _Answer(
                    status, headers, json.dumps(body).encode() if body is not None else b""
                )
            status = int(response.status)
            if status == 429 or status >= 500:
                told = _reset_seconds(response.headers.get("x-ratelimit-reset"))
                if self._wait(attempt, told, f"HTTP {status} from /api/v1/monitor"):
                    attempt += 1
                    continue
            if not 200 <= status < 300:
                raise SourceError(self.name, self._error(status, response.data))
            try:
                body = json.loads(response.data)
            except ValueError as exc:
                raise SourceError(
                    self.name,
                    f"/api/v1/monitor answered HTTP {status} with a body that is not JSON",
                ) from exc
            if not isinstance(body, list):
                raise SourceError(
                    self.name, "/api/v1/monitor: the answer is not a list of monitors"
                )
            return body

    def _wait(self, attempt: int, told: float | None, failure: str) -> bool:
        if attempt >= self.config.max_retries:
            return False
        delay = told if told is not None else min(60.0, 2.0**attempt) * (0.5 + self._random())
        if delay > self.config.max_wait:
            raise SourceError(
                self.name,
                f"{failure}: asked to wait {delay:.0f}s, beyond max_wait "
                f"({self.config.max_wait:.0f}s); the next sync will resume",
            )
        self._sleep(delay)
        return True

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

    def _app(self) -> str:
        if self.config.base_url:
            return self.config.base_url.rstrip("/")
        site = self.config.site
        return f"https://app.{site}" if site.count(".") == 1 else f"https://{site}"


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
