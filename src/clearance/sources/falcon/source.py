"""CrowdStrike Falcon: alerts and host identities pulled through FalconPy, the vendor's SDK.

What a fetch does (details and links in ``docs/sources/crowdstrike.md``):

1. OAuth2 client credentials; FalconPy renews the token before it expires, and a token the API
   rejects anyway (401) is renewed once and the call retried.
2. ``POST /alerts/combined/alerts/v1`` with ``updated_timestamp:>='<watermark>'`` sorted by
   ``updated_timestamp|asc``, following the ``after`` cursor to the end. One batch per page,
   oldest first; each batch's watermark is the newest ``updated_timestamp`` seen so far, so the
   caller can store a page and only then advance. The filter is inclusive, so the newest alert is
   read again next time: re-fetching is idempotent, skipping is not.
3. ``POST /devices/entities/devices/v2`` for the page's hosts: their records become
   ``Batch.identities`` and add Kubernetes pod/cluster references to the page's signals.
4. With ``covers: edr``, the whole host inventory last: ``GET /devices/queries/devices-scroll/v1``
   to the end, then the records (5000 per call); each sensor, its ``last_seen`` and whether it
   runs in reduced functionality mode make the batch's ``coverage`` (``docs/coverage.md``).

Login, 429 waits, token renewal and error mapping: :mod:`clearance.sources.falcon.api`. FalconPy
is imported on the first :meth:`FalconSource.fetch`, so ``clearance check`` never loads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from clearance.errors import SourceError
from clearance.model.coverage import Managed
from clearance.model.signal import format_time
from clearance.sources._pages import checked_watermark
from clearance.sources._plugin import checked_config, require_sdk
from clearance.sources.falcon.api import FalconApi
from clearance.sources.falcon.hosts import managed
from clearance.sources.falcon.mapping import (
    HostIdentity,
    alert_watermark,
    host_identity,
    map_alerts,
)
from clearance.sources.interface import Batch

__all__ = ["FalconConfig", "FalconSource"]

_SORT = "updated_timestamp|asc"


class FalconConfig(BaseModel):
    """``clearance.yaml`` settings for a ``falcon`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    # Region name (us-1, us-2, eu-1, us-gov-1, us-gov-2, auto) or a full URL.
    base_url: str = "us-1"
    member_cid: str | None = None
    # Extra FQL, ANDed with the watermark term (e.g. "product:'epp'").
    filter: str | None = None
    # Where the first fetch starts; without it the first fetch reads every alert.
    since: AwareDatetime | None = None
    page_size: int = Field(default=1000, ge=1, le=1000)
    hosts: bool = True
    # Falcon reports a Kubernetes cluster by id (k8s_cluster_id); name them here to correlate.
    clusters: dict[str, str] = Field(default_factory=dict)
    # What this source's sensors give every host they run on; set, each fetch also reads the
    # whole host inventory, and a node without a recent sensor is not covered (docs/coverage.md).
    covers: Literal["edr", "runtime"] | None = None
    timeout: float = Field(default=30.0, gt=0)
    max_rate_limit_wait: float = Field(default=300.0, ge=0)
    max_retries: int = Field(default=5, ge=0)
    ssl_verify: bool = True


class FalconSource:
    """A pull source over one Falcon API client. ``clock``/``sleep`` are injectable for tests."""

    Config: ClassVar[type[BaseModel]] = FalconConfig

    def __init__(
        self,
        name: str,
        config: FalconConfig,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.config = config
        self._api = FalconApi(name, config, clock=clock, sleep=sleep)

    @property
    def rate_limit(self) -> tuple[int | None, int | None]:
        """The last X-RateLimit-Limit / X-RateLimit-Remaining seen, for health reporting."""
        return self._api.rate_limit

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> FalconSource:
        require_sdk(name, "falcon", "falconpy", "crowdstrike")
        return cls(name, checked_config(name, config, FalconConfig, "falcon"))

    def close(self) -> None:
        self._api.close()

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """Yield one batch per alerts page from ``watermark`` on, oldest update first."""
        checked_watermark(self.name, watermark)
        alerts, hosts = self._api.services()
        fql = self._filter(watermark)
        known: dict[str, HostIdentity | None] = {}
        after: str | None = None
        page = 0
        while True:
            page += 1
            request = partial(
                alerts.get_alerts_combined,
                filter=fql,
                sort=_SORT,
                limit=self.config.page_size,
                after=after,
            )
            body = self._api.call("alerts", request)
            items = body.get("resources") or []
            if not isinstance(items, list):
                raise SourceError(self.name, "alerts: response 'resources' is not a list")
            fresh = self._lookup_hosts(hosts, items, known) if self.config.hosts else {}
            found = {k: v for k, v in known.items() if v is not None}
            signals, quarantined = map_alerts(
                items,
                source=self.name,
                location=f"alerts page {page}: resources",
                hosts=found,
                clusters=self.config.clusters,
            )
            watermark = alert_watermark(items, watermark)
            yield Batch(
                signals=tuple(signals),
                quarantined=tuple(quarantined),
                watermark=watermark,
                identities=tuple(h.identity() for h in fresh.values()),
            )
            pagination = (body.get("meta") or {}).get("pagination") or {}
            after = pagination.get("after") if isinstance(pagination, dict) else None
            if not items or not after:
                break
        if self.config.covers is not None:
            yield Batch(coverage=self._inventory(hosts, self.config.covers))

    def _inventory(self, hosts: Any, kind: str) -> tuple[Managed, ...]:
        """Every host record, by the scroll query (no 10 000-result cap) then details."""
        ids: list[str] = []
        offset: str | None = None
        while True:
            request = partial(hosts.query_devices_by_filter_scroll, limit=5000, offset=offset)
            body = self._api.call("hosts", request)
            page = [i for i in body.get("resources") or [] if isinstance(i, str)]
            ids += page
            pagination = (body.get("meta") or {}).get("pagination") or {}
            offset = pagination.get("offset") if isinstance(pagination, dict) else None
            total = pagination.get("total") if isinstance(pagination, dict) else None
            if not page or not offset or (isinstance(total, int) and len(ids) >= total):
                break
        agents: list[Managed] = []
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            body = self._api.call("hosts", partial(hosts.get_device_details, ids=chunk))
            for record in body.get("resources") or []:
                agent = managed(record, self.name, kind, self.config.clusters)
                if agent is not None:
                    agents.append(agent)
        return tuple(agents)

    def _filter(self, watermark: str | None) -> str:
        terms = []
        start = watermark or (format_time(self.config.since) if self.config.since else None)
        if start:
            terms.append(f"updated_timestamp:>='{start}'")
        if self.config.filter:
            terms.append(
                f"({self.config.filter})" if "," in self.config.filter else self.config.filter
            )
        return "+".join(terms)

    def _lookup_hosts(
        self, hosts: Any, items: list[Any], known: dict[str, HostIdentity | None]
    ) -> dict[str, HostIdentity]:
        """Host records for agents not looked up yet in this fetch (≤ 5000 ids per call)."""
        wanted = sorted(
            {
                i["agent_id"]
                for i in items
                if isinstance(i, dict) and isinstance(i.get("agent_id"), str)
            }
            - known.keys()
        )
        fresh: dict[str, HostIdentity] = {}
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            body = self._api.call("hosts", partial(hosts.get_device_details, ids=chunk))
            for record in body.get("resources") or []:
                found = host_identity(record, self.config.clusters)
                if found is not None:
                    fresh[found.device_id] = found
            known.update({aid: fresh.get(aid) for aid in chunk})
        return fresh
