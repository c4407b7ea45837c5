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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from clearance.errors import InvalidAssetError, InvalidSignalError
from clearance.model.quarantine import Quarantined, payload_digest
from clearance.model.signal import Signal
from clearance.sources._firing import firing_before, firing_watermark, stopped_firing
from clearance.sources._labels import LabelMapping
from clearance.sources._plugin import checked_config, require_sdk
from clearance.sources.datadog.api import MonitorsClient, Retry
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
        self.name = name
        self.config = config
        self._clock = clock
        self._api = MonitorsClient(
            name,
            site=config.site,
            base_url=config.base_url,
            api_key=config.api_key,
            app_key=config.app_key,
            retry=Retry(config.max_retries, config.max_wait, sleep, random),
            timeout=config.timeout,
            verify=config.verify,
        )

    def __repr__(self) -> str:
        return f"DatadogSource(name={self.name!r}, site={self.config.site!r})"

    def close(self) -> None:
        self._api.close()

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
            items = self._api.page(page, self.config.page_size, self.config.monitor_tags)
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

        cfg = self.config
        signals: list[Signal] = []
        quarantined: list[Quarantined] = []
        for i, item in enumerate(items):
            reason = ""
            try:
                if not isinstance(item, dict):
                    raise ValueError("a monitor must be a JSON object")
                monitor = self._api.monitor(item)
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
            # An unplaced monitor is listed again at every pull: kept once, by its id and tags.
            identity = raw
            if reason == "no_target" and isinstance(item, dict):
                identity = json.dumps([item.get("id"), item.get("tags")], default=str).encode()
            quarantined.append(
                Quarantined(
                    source=self.name,
                    reason=reason,
                    detail=detail,
                    digest=payload_digest(identity),
                    location=f"/api/v1/monitor page {page}[{i}]",
                    payload=raw,
                )
            )
        return signals, quarantined

    def _app(self) -> str:
        if self.config.base_url:
            return self.config.base_url.rstrip("/")
        site = self.config.site
        return f"https://app.{site}" if site.count(".") == 1 else f"https://{site}"
