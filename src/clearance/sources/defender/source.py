"""Microsoft Defender for Endpoint: alerts (with evidence) and machines, over its REST API.

What a fetch does (details and links in ``docs/sources/defender.md``):

1. An Entra ID client-credentials token (``POST login.microsoftonline.com/{tenant}/oauth2/v2.0/
   token``, scope ``https://api.securitycenter.microsoft.com/.default``), renewed before expiry.
2. ``GET /api/machines`` (when ``machines`` is on): every machine becomes a ``Batch.identities``
   group (FQDN, IPs, MACs, Azure VM id) in the first batch, and names the host of an alert that
   lacks ``computerDnsName``.
3. With ``covers: edr``, the same machines are the inventory: each machine, its ``lastSeen`` and
   whether it is onboarded with ``healthStatus: Active`` make the last batch's ``coverage``.
4. ``GET /api/alerts?$expand=evidence&$filter=lastUpdateTime ge <watermark - overlap>``, following
   ``@odata.nextLink`` (or ``$skip`` when the page is full and no link is given).
5. With ``incidents: true``, ``GET /api/incidents`` with the same filter: Defender XDR incidents
   as ``incident`` signals on their devices (:mod:`.incidents`), with a token of their own API's
   audience (``incidents_scope``; permission ``Incident.Read.All``).

The API documents no sort order for alerts, so no page is a safe place to resume from: batches
before the last carry the watermark the fetch started from (``None`` at first), and the last one
carries the newest ``lastUpdateTime`` seen. Re-reading ``overlap`` seconds before the watermark
covers alerts updated while a fetch was paging; re-reading is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal, Unpack

from pydantic import AwareDatetime, BaseModel, Field, SecretStr

from clearance.errors import SourceError
from clearance.model.coverage import Managed
from clearance.model.signal import format_time, parse_time
from clearance.sources._auth import OAuth2ClientCredentials
from clearance.sources._pages import checked_watermark
from clearance.sources._plugin import checked_config
from clearance.sources._rest import HttpSeams, RestConnection, RestSource
from clearance.sources.defender.incidents import map_incidents
from clearance.sources.defender.mapping import (
    DefenderNormalizer,
    machine_identity,
    managed_machine,
    map_alerts,
    newest_update,
)
from clearance.sources.interface import Batch

__all__ = [
    "DefenderConfig",
    "DefenderNormalizer",
    "DefenderSource",
    "machine_identity",
    "map_alerts",
]

_TIPS = {
    401: "check tenant_id, client_id and client_secret",
    403: "grant the app Alert.Read.All and Machine.Read.All (application) with admin consent",
    404: "check base_url (api.security.microsoft.com or a regional host)",
}


class DefenderConfig(RestConnection):
    """``clearance.yaml`` settings for a ``defender`` source."""

    # Also timeout, max_retries, max_wait and verify, from RestConnection.

    tenant_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    base_url: str = "https://api.security.microsoft.com"
    # Default: https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token
    token_url: str | None = None
    scope: str = "https://api.securitycenter.microsoft.com/.default"
    portal_url: str = "https://security.microsoft.com"
    since: AwareDatetime | None = None
    page_size: int = Field(default=1000, ge=1, le=10000)
    machines: bool = True
    overlap: float = Field(default=300.0, ge=0)
    # What Defender's sensors give the machines they run on; set, the machines read each fetch
    # are also the coverage inventory (docs/coverage.md), even with ``machines: false``.
    covers: Literal["edr", "runtime"] | None = None
    # Defender XDR incidents (docs/sources/defender.md): another API audience, so another token.
    incidents: bool = False
    incidents_scope: str = "https://api.security.microsoft.com/.default"


class DefenderSource(RestSource[DefenderConfig]):
    """A pull source over one Entra app registration. Tests inject ``sleep``, ``random``, ``clock``
    and the httpx ``transport`` (:class:`HttpSeams`)."""

    Config: ClassVar[type[BaseModel]] = DefenderConfig

    def __init__(
        self,
        name: str,
        config: DefenderConfig,
        **seams: Unpack[HttpSeams],
    ) -> None:
        # auth=None: the token endpoint is reached through this client; set just below.
        super().__init__(
            name, config, auth=None, secrets=(config.client_secret,), tips=_TIPS, **seams
        )
        token_url = config.token_url or (
            f"https://login.microsoftonline.com/{config.tenant_id}/oauth2/v2.0/token"
        )
        self._http.auth = OAuth2ClientCredentials(
            self._http,
            token_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            scope=config.scope,
        )
        self._incidents_auth = OAuth2ClientCredentials(
            self._http,
            token_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            scope=config.incidents_scope,
        )

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> DefenderSource:
        return cls(name, checked_config(name, config, DefenderConfig, "defender"))

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """Yield the machines (as identities) and then one batch per alerts page."""
        start = checked_watermark(self.name, watermark) or (
            format_time(self.config.since) if self.config.since else None
        )
        hosts: dict[str, str] = {}
        identities: list[dict[str, tuple[str, ...]]] = []
        agents: list[Managed] = []
        covers = self.config.covers
        if self.config.machines or covers is not None:
            for item in self._pages("/api/machines", {}):
                found = machine_identity(item) if self.config.machines else None
                if found is not None:
                    identities.append(found[1])
                    names = found[1].get("host", ())
                    if names:
                        hosts[found[0]] = names[0]
                agent = managed_machine(item, self.name, covers) if covers else None
                if agent is not None:
                    agents.append(agent)
        params: dict[str, str | int] = {"$expand": "evidence"}
        if start:
            since = parse_time(start) - timedelta(seconds=self.config.overlap)
            params["$filter"] = f"lastUpdateTime ge {format_time(since)}"
        newest = start
        for page, (items, last) in enumerate(self._paged("/api/alerts", params), start=1):
            batch = map_alerts(
                items,
                source=self.name,
                location=f"alerts page {page}: value",
                portal=self.config.portal_url,
                hosts=hosts,
            )
            newest = newest_update(items, newest)
            yield Batch(
                signals=batch.signals,
                quarantined=batch.quarantined,
                watermark=newest if last and not self.config.incidents else watermark,
                identities=tuple(identities) if page == 1 else (),
            )
        if self.config.incidents:
            # The list API pages by at most 100 incidents (api-list-incidents: $top ≤ 100).
            pages = self._paged(
                "/api/incidents",
                {k: v for k, v in params.items() if k != "$expand"},
                top=min(self.config.page_size, 100),
                auth=self._incidents_auth,
            )
            for page, (items, last) in enumerate(pages, start=1):
                mapped = map_incidents(
                    items,
                    source=self.name,
                    location=f"incidents page {page}: value",
                    portal=self.config.portal_url,
                    hosts=hosts,
                )
                newest = newest_update(items, newest)
                yield Batch(
                    signals=mapped.signals,
                    quarantined=mapped.quarantined,
                    watermark=newest if last else watermark,
                )
        if covers is not None:
            # Last, so that a fetch that fails on alerts does not replace the inventory either.
            yield Batch(coverage=tuple(agents))

    def _pages(self, path: str, params: dict[str, str | int]) -> Iterator[Any]:
        for items, _ in self._paged(path, params):
            yield from items

    def _paged(
        self,
        path: str,
        params: dict[str, str | int],
        *,
        top: int | None = None,
        auth: OAuth2ClientCredentials | None = None,
    ) -> Iterator[tuple[list[Any], bool]]:
        """``(items, is_last_page)`` per page: ``@odata.nextLink`` if given, else ``$skip``."""
        top = top or self.config.page_size
        query: dict[str, str | int] | None = {**params, "$top": top}
        url = path
        skip = 0
        while True:
            body = self._http.request_json("GET", url, params=query, auth=auth)
            items = body.get("value") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise SourceError(self.name, f"{path}: response has no 'value' list")
            link = body.get("@odata.nextLink")
            if isinstance(link, str) and link and items:
                yield items, False
                url, query = link, None
            elif len(items) >= top and query is not None:
                yield items, False
                skip += top
                query = {**params, "$top": top, "$skip": skip}
            else:
                yield items, True
                return
