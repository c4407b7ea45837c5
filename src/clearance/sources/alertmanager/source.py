"""Prometheus Alertmanager: the alerts firing now on the target's namespace, workload, pod or node.

* ``GET {base_url}/api/v2/alerts?active=true&silenced=false&inhibited=false`` (plus a
  ``filter=`` per configured matcher, e.g. ``cluster="prod-eu"``), HTTP Basic auth (Alertmanager's
  own ``--web.config.file``) or a bearer token (a proxy in front of it), or none. The API has no
  pages: the answer is every alert at once, stored in batches of ``batch_size``.
* An alert that stops firing leaves the answer (Alertmanager drops resolved alerts from it), and
  silence is not health: so the watermark remembers what was firing at the last pull, and an
  alert missing from the next one is stored **resolved** (as of that pull). Only the last
  batch carries the watermark, so a pull that fails half-way is simply read again.
* Unreachable, refused or answering something that is not a list of alerts: a
  :class:`SourceError`, so ``sync`` records the source down and the ``source_down`` stance
  applies. Never silently healthy.

Mapping: :mod:`clearance.sources.alertmanager.mapping`; docs: ``docs/sources/alertmanager.md``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Unpack
from urllib.parse import urlencode

from pydantic import BaseModel, Field, SecretStr, model_validator

from clearance.errors import SourceError
from clearance.sources._auth import basic_or_bearer
from clearance.sources._firing import firing_before, firing_watermark, stopped_firing
from clearance.sources._labels import LabelMapping
from clearance.sources._plugin import checked_config
from clearance.sources._rest import HttpSeams, RestConnection, rest_client
from clearance.sources.alertmanager.mapping import (
    DEFAULT_SEVERITIES,
    AlertmanagerNormalizer,
    SeverityName,
    counts,
    map_alerts,
)
from clearance.sources.interface import Batch

__all__ = ["AlertmanagerConfig", "AlertmanagerNormalizer", "AlertmanagerSource"]

_TIPS = {
    401: "check username and password (Alertmanager's web.config basic_auth_users) or token",
    403: "the proxy in front of Alertmanager refused this credential",
    404: "check base_url: it should be Alertmanager's root, serving /api/v2/alerts",
}


class AlertmanagerConfig(RestConnection):
    """``clearance.yaml`` settings for an ``alertmanager`` source."""

    # Also timeout, max_retries, max_wait and verify, from RestConnection.

    base_url: str = Field(min_length=1)  # http://alertmanager.monitoring:9093
    cluster: str | None = None  # the cluster its alerts are about, unless a label says
    labels: LabelMapping = LabelMapping()
    filter: list[str] = Field(
        default_factory=list
    )  # Alertmanager matchers, e.g. 'cluster="prod-eu"'
    include_silenced: bool = False  # a silenced alert is someone's acknowledged noise
    include_inhibited: bool = False
    severities: dict[str, SeverityName] = Field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    default_severity: SeverityName = "medium"  # no severity label, or one not in the map
    username: str | None = None
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None
    batch_size: int = Field(default=500, ge=1, le=10000)

    @model_validator(mode="after")
    def _one_credential(self) -> AlertmanagerConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.password is not None and self.bearer_token is not None:
            raise ValueError("set username/password or bearer_token, not both")
        return self


class AlertmanagerSource:
    """A pull source over Alertmanager's API v2. ``sleep``/``random``/``clock`` and the httpx
    ``transport`` are injectable for tests (``clock`` also dates an alert seen resolved)."""

    Config: ClassVar[type[BaseModel]] = AlertmanagerConfig

    def __init__(self, name: str, config: AlertmanagerConfig, **seams: Unpack[HttpSeams]) -> None:
        self.name = name
        self.config = config
        auth, secrets = basic_or_bearer(config.username, config.password, config.bearer_token)
        self._clock = seams.get("clock", time.time)
        self._http = rest_client(name, config, auth=auth, secrets=secrets, tips=_TIPS, **seams)

    def __repr__(self) -> str:
        return f"AlertmanagerSource(name={self.name!r}, base_url={self.config.base_url!r})"

    def close(self) -> None:
        self._http.close()

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> AlertmanagerSource:
        return cls(name, checked_config(name, config, AlertmanagerConfig, "alertmanager"))

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """Every alert firing now, in batches; then those that stopped firing since
        ``watermark``, resolved. Only the last batch carries the (new) watermark."""
        before = firing_before(self.name, watermark)
        body = self._http.request_json("GET", f"/api/v2/alerts?{self._query()}")
        if not isinstance(body, list):
            raise SourceError(self.name, "/api/v2/alerts: the answer is not a list of alerts")
        active = [a for a in body if counts(a)]
        cfg = self.config
        mapped = map_alerts(
            active,
            source=self.name,
            cluster=cfg.cluster,
            labels=cfg.labels,
            severities=cfg.severities,
            default_severity=cfg.default_severity,
            location="/api/v2/alerts",
        )
        firing = {s.uid: s for s in mapped.signals}
        now = datetime.fromtimestamp(self._clock(), UTC)
        signals = [*mapped.signals, *stopped_firing(before, firing, now)]
        mark = firing_watermark(mapped.signals)
        size = cfg.batch_size
        chunks = [signals[i : i + size] for i in range(0, len(signals), size)] or [[]]
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            yield Batch(
                tuple(chunk),
                mapped.quarantined if last else (),
                mark if last else None,
            )

    def _query(self) -> str:
        cfg = self.config
        params: list[tuple[str, str]] = [
            ("active", "true"),
            ("silenced", str(cfg.include_silenced).lower()),
            ("inhibited", str(cfg.include_inhibited).lower()),
        ]
        params += [("filter", matcher) for matcher in cfg.filter]
        return urlencode(params)
