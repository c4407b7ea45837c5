"""SentinelOne: threats from the Management API v2.1, with the agents they were found on.

What a fetch does (details and links in ``docs/sources/sentinelone.md``):

* ``GET {console}/web/api/v2.1/threats?limit=…&sortBy=updatedAt&sortOrder=asc
  &updatedAt__gte=<watermark>``, with ``Authorization: ApiToken <token>``, following
  ``pagination.nextCursor`` until it is null.
* Each threat becomes a signal on its agent (computer name, interface IPs and MACs, Kubernetes
  cluster/namespace/pod/node, container) and each agent an identities group.
* With ``incidents: true``, threats that share a ``threatInfo.storyline`` also become one
  ``incident`` signal, filed with the last page (:mod:`.incidents`).
* With ``covers: edr``, the whole agent inventory last: ``GET {console}/web/api/v2.1/agents``
  following ``pagination.nextCursor``; each agent, its ``lastActiveDate`` and whether it is
  active (and not decommissioned or uninstalled) make the batch's ``coverage``.

Batches before the last carry the watermark the fetch started from; the last carries the newest
``threatInfo.updatedAt`` seen. The filter is inclusive: the newest threat is read again next
time, which is idempotent, where skipping would not be.

Mapping: :mod:`clearance.sources.sentinelone.mapping`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, Unpack

from pydantic import AwareDatetime, BaseModel, Field, SecretStr

from clearance.errors import SourceError
from clearance.model.coverage import Managed
from clearance.model.signal import Signal, format_time
from clearance.sources._auth import StaticAuth
from clearance.sources._pages import checked_watermark
from clearance.sources._plugin import checked_config
from clearance.sources._rest import HttpSeams, RestConnection, RestSource
from clearance.sources.interface import Batch
from clearance.sources.sentinelone.incidents import storyline_incidents, storylines
from clearance.sources.sentinelone.mapping import (
    SentinelOneNormalizer,
    managed_agent,
    map_threats,
    newest_update,
)

__all__ = ["SentinelOneConfig", "SentinelOneNormalizer", "SentinelOneSource", "map_threats"]

_TIPS = {
    401: "check api_token (tokens expire; a service user's token is renewed in the console)",
    403: "give the token's user the Viewer role on the sites or accounts to read",
    404: "check base_url (https://<console>.sentinelone.net)",
}


class SentinelOneConfig(RestConnection):
    """``clearance.yaml`` settings for a ``sentinelone`` source."""

    # Also timeout, max_retries, max_wait and verify, from RestConnection.

    base_url: str = Field(min_length=1)  # https://<console>.sentinelone.net
    api_token: SecretStr
    site_ids: tuple[str, ...] = ()
    account_ids: tuple[str, ...] = ()
    since: AwareDatetime | None = None
    page_size: int = Field(default=1000, ge=1, le=1000)
    # What this console's agents give the hosts they run on; set, each fetch also reads the
    # whole agent inventory (docs/coverage.md).
    covers: Literal["edr", "runtime"] | None = None
    # Threats sharing a storyline also filed as one incident (docs/sources/sentinelone.md).
    incidents: bool = False


class SentinelOneSource(RestSource[SentinelOneConfig]):
    """A pull source over one console and API token. Tests inject ``sleep``, ``random``, ``clock``
    and the httpx ``transport`` (:class:`HttpSeams`)."""

    Config: ClassVar[type[BaseModel]] = SentinelOneConfig

    def __init__(
        self,
        name: str,
        config: SentinelOneConfig,
        **seams: Unpack[HttpSeams],
    ) -> None:
        super().__init__(
            name,
            config,
            auth=StaticAuth("ApiToken", config.api_token),
            secrets=(config.api_token,),
            tips=_TIPS,
            **seams,
        )

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> SentinelOneSource:
        return cls(name, checked_config(name, config, SentinelOneConfig, "sentinelone"))

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """Yield one batch per threats page, from ``watermark`` on."""
        checked_watermark(self.name, watermark)
        cfg = self.config
        start = watermark or (format_time(cfg.since) if cfg.since else None)
        params: dict[str, str | int] = {
            "limit": cfg.page_size,
            "sortBy": "updatedAt",
            "sortOrder": "asc",
        }
        if start:
            params["updatedAt__gte"] = start
        if cfg.site_ids:
            params["siteIds"] = ",".join(cfg.site_ids)
        if cfg.account_ids:
            params["accountIds"] = ",".join(cfg.account_ids)
        newest = start
        page = 0
        seen: list[Signal] = []  # the threats' signals, for their storylines (incidents)
        stories: dict[str, str] = {}
        while True:
            page += 1
            body = self._http.request_json("GET", "/web/api/v2.1/threats", params=params)
            items = body.get("data") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise SourceError(self.name, "threats: response has no 'data' list")
            pagination = body.get("pagination")
            cursor = pagination.get("nextCursor") if isinstance(pagination, dict) else None
            last = not (isinstance(cursor, str) and cursor and items)
            batch = map_threats(
                items, source=self.name, location=f"threats page {page}: data", console=cfg.base_url
            )
            newest = newest_update(items, newest)
            signals = batch.signals
            if cfg.incidents:
                seen += batch.signals
                stories |= storylines(items)
                if last:  # grouped over the whole fetch, filed with its last page
                    signals += storyline_incidents(
                        seen, stories, source=self.name, console=cfg.base_url
                    )
            yield Batch(signals, batch.quarantined, newest if last else watermark, batch.identities)
            if last:
                break
            params = {**params, "cursor": str(cursor)}
        if cfg.covers is not None:
            yield Batch(coverage=self._inventory(cfg.covers))

    def _inventory(self, kind: str) -> tuple[Managed, ...]:
        cfg = self.config
        params: dict[str, str | int] = {"limit": cfg.page_size}
        if cfg.site_ids:
            params["siteIds"] = ",".join(cfg.site_ids)
        if cfg.account_ids:
            params["accountIds"] = ",".join(cfg.account_ids)
        agents: list[Managed] = []
        while True:
            body: Any = self._http.request_json("GET", "/web/api/v2.1/agents", params=params)
            items = body.get("data") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise SourceError(self.name, "agents: response has no 'data' list")
            agents += [a for i in items if (a := managed_agent(i, self.name, kind)) is not None]
            pagination = body.get("pagination")
            cursor = pagination.get("nextCursor") if isinstance(pagination, dict) else None
            if not (isinstance(cursor, str) and cursor and items):
                return tuple(agents)
            params = {**params, "cursor": cursor}
