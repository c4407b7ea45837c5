"""Microsoft Defender for Endpoint: alerts (with evidence) and machines, over its REST API.

What a fetch does (details and links in ``docs/sources/defender.md``):

1. An Entra ID client-credentials token (``POST login.microsoftonline.com/{tenant}/oauth2/v2.0/
   token``, scope ``https://api.securitycenter.microsoft.com/.default``), renewed before expiry.
2. ``GET /api/machines`` (when ``machines`` is on): every machine becomes a ``Batch.identities``
   group (FQDN, IPs, MACs, Azure VM id) in the first batch, and names the host of an alert that
   lacks ``computerDnsName``.
3. ``GET /api/alerts?$expand=evidence&$filter=lastUpdateTime ge <watermark - overlap>``, following
   ``@odata.nextLink`` (or ``$skip`` when the page is full and no link is given).

The API documents no sort order for alerts, so no page is a safe place to resume from: batches
before the last carry the watermark the fetch started from (``None`` at first), and the last one
carries the newest ``lastUpdateTime`` seen. Re-reading ``overlap`` seconds before the watermark
covers alerts updated while a fetch was paging; re-reading is idempotent.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from clearance.errors import InvalidSignalError, SourceError
from clearance.model.assets import AssetKind, AssetRef
from clearance.model.signal import (
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    format_time,
    parse_time,
)
from clearance.sources._http import (
    HttpClient,
    OAuth2ClientCredentials,
    RejectedError,
    RetryPolicy,
    map_page,
    read_items,
)
from clearance.sources._mapping import refs
from clearance.sources.interface import Batch

__all__ = ["DefenderConfig", "DefenderNormalizer", "DefenderSource", "machine_identity"]

_SEVERITY = {
    "unspecified": Severity.UNKNOWN,
    "informational": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,  # MDE has no Critical
}
_STATUS = {
    "new": SignalStatus.OPEN,
    "inprogress": SignalStatus.IN_PROGRESS,
    "resolved": SignalStatus.RESOLVED,
}
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
_TIPS = {
    401: "check tenant_id, client_id and client_secret",
    403: "grant the app Alert.Read.All and Machine.Read.All (application) with admin consent",
    404: "check base_url (api.security.microsoft.com or a regional host)",
}


class DefenderConfig(BaseModel):
    """``clearance.yaml`` settings for a ``defender`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    timeout: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    max_wait: float = Field(default=300.0, ge=0)
    verify: bool = True


class _Model(BaseModel):
    # The API's camelCase names, read into snake_case attributes.
    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=to_camel)


class _Alert(_Model):
    id: str = Field(min_length=1)
    title: str | None = None
    severity: str | None = None
    status: str | None = None
    classification: str | None = None
    category: str | None = None
    detector_id: str | None = None
    alert_creation_time: str | None = None
    first_event_time: str | None = None
    last_event_time: str | None = None
    last_update_time: str | None = None
    machine_id: str | None = None
    computer_dns_name: str | None = None
    mitre_techniques: list[str] | None = None


class _IpAddress(_Model):
    ip_address: str | None = None
    mac_address: str | None = None


class _VmMetadata(_Model):
    vm_id: str | None = None


class _Machine(_Model):
    id: str = Field(min_length=1)
    computer_dns_name: str | None = None
    last_ip_address: str | None = None
    ip_addresses: list[_IpAddress] | None = None
    vm_metadata: _VmMetadata | None = None


def machine_identity(item: Any) -> tuple[str, dict[str, tuple[str, ...]]] | None:
    """``(machine id, identities group)`` for a machine record, None when it is unusable.

    ``lastExternalIpAddress`` is left out: it is the NAT address many machines share, and would
    join unrelated machines (see docs/sources/defender.md).
    """
    try:
        machine = _Machine.model_validate(item)
    except ValueError:
        return None
    pairs: list[tuple[AssetKind, str | None]] = [
        (AssetKind.HOST, machine.computer_dns_name),
        (AssetKind.IP, machine.last_ip_address),
    ]
    for address in machine.ip_addresses or ():
        pairs += [(AssetKind.IP, address.ip_address), (AssetKind.MAC, address.mac_address)]
    if machine.vm_metadata is not None:
        pairs.append((AssetKind.INSTANCE, machine.vm_metadata.vm_id))
    groups: dict[str, list[str]] = {}
    for ref in refs(pairs):
        values = groups.setdefault(ref.kind.value, [])
        if ref.value not in values:
            values.append(ref.value)
    if not groups:
        return None
    return machine.id, {kind: tuple(values) for kind, values in groups.items()}


def _signal(
    item: dict[str, Any], digest: str, source: str, portal: str, hosts: Mapping[str, str]
) -> Signal:
    alert = _Alert.model_validate(item)
    first = alert.first_event_time or alert.alert_creation_time or alert.last_update_time
    if not first:
        raise RejectedError("missing_field", "alert has no firstEventTime or alertCreationTime")
    first_seen = parse_time(first)
    last_seen = max(first_seen, parse_time(alert.last_event_time or first))
    host = alert.computer_dns_name or hosts.get(alert.machine_id or "")
    assets: list[AssetRef] = refs([(AssetKind.HOST, host)])
    if not assets:
        raise RejectedError("no_asset", f"alert {alert.id} names no machine Clearance can match")
    status = _STATUS.get((alert.status or "new").strip().lower(), SignalStatus.OPEN)
    if (alert.classification or "").strip().lower() == "falsepositive":
        status = SignalStatus.SUPPRESSED
    return Signal(
        uid=SignalUid(f"{source}:{alert.id}"),
        source=source,
        kind=SignalKind.DETECTION,
        title=alert.title or alert.category or "Defender for Endpoint alert",
        severity=_SEVERITY.get((alert.severity or "").strip().lower(), Severity.UNKNOWN),
        confidence=1.0,  # MDE has no numeric confidence; triage shows in status/classification
        status=status,
        first_seen=first_seen,
        last_seen=last_seen,
        assets=tuple(assets),
        rule=alert.detector_id or alert.category,
        techniques=tuple(t for t in alert.mitre_techniques or () if _TECHNIQUE.match(t)),
        url=f"{portal.rstrip('/')}/alerts/{alert.id}",
        raw_digest=digest,
    )


def map_alerts(
    items: list[Any],
    *,
    source: str,
    location: str = "value",
    portal: str = "https://security.microsoft.com",
    hosts: Mapping[str, str] | None = None,
) -> Batch:
    """Map one page of alerts (pure: no network, no clock)."""
    known = hosts or {}
    signals, quarantined = map_page(
        items,
        lambda item, digest: _signal(item, digest, source, portal, known),
        source=source,
        location=location,
    )
    return Batch(signals=tuple(signals), quarantined=tuple(quarantined))


def _newest_update(items: list[Any], current: str | None) -> str | None:
    best = parse_time(current) if current else None
    for item in items:
        text = item.get("lastUpdateTime") if isinstance(item, dict) else None
        try:
            moment = parse_time(text) if isinstance(text, str) else None
        except InvalidSignalError:
            moment = None
        if moment is not None and (best is None or moment > best):
            best = moment
    return None if best is None else format_time(best)


class DefenderNormalizer:
    """``clearance ingest --format defender``: an ``/api/alerts`` or ``/api/machines`` response
    (``{"value": [...]}``), or a JSON list of alerts."""

    format: ClassVar[str] = "defender"

    def __init__(self, source: str = "defender") -> None:
        self.source = source

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        items, where, problem = read_items(
            data, source=self.source, location=location, keys=("value",)
        )
        if problem is not None:
            return Batch(quarantined=(problem,))
        if items and all(
            isinstance(i, dict) and "title" not in i and "osPlatform" in i for i in items
        ):
            groups = [found[1] for i in items if (found := machine_identity(i)) is not None]
            return Batch(identities=tuple(groups))
        return map_alerts(items, source=self.source, location=where)


class DefenderSource:
    """A pull source over one Entra app registration. ``sleep``/``random``/``clock`` and the
    httpx ``transport`` are injectable for tests."""

    Config: ClassVar[type[BaseModel]] = DefenderConfig

    def __init__(
        self,
        name: str,
        config: DefenderConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.config = config
        retry = RetryPolicy(
            max_retries=config.max_retries,
            max_wait=config.max_wait,
            sleep=sleep,
            random=random,
            clock=clock,
        )
        self._http = HttpClient(
            name,
            config.base_url,
            timeout=config.timeout,
            verify=config.verify,
            retry=retry,
            secrets=(config.client_secret,),
            transport=transport,
            tips=_TIPS,
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

    def __repr__(self) -> str:
        return f"DefenderSource(name={self.name!r}, base_url={self.config.base_url!r})"

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> DefenderSource:
        if not isinstance(config, DefenderConfig):
            raise SourceError(name, f"expected a defender config, got {type(config).__name__}")
        return cls(name, config)

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """Yield the machines (as identities) and then one batch per alerts page."""
        start = _checked(self.name, watermark) or (
            format_time(self.config.since) if self.config.since else None
        )
        hosts: dict[str, str] = {}
        identities: list[dict[str, tuple[str, ...]]] = []
        if self.config.machines:
            for item in self._pages("/api/machines", {}):
                found = machine_identity(item)
                if found is not None:
                    identities.append(found[1])
                    names = found[1].get("host", ())
                    if names:
                        hosts[found[0]] = names[0]
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
            newest = _newest_update(items, newest)
            yield Batch(
                signals=batch.signals,
                quarantined=batch.quarantined,
                watermark=newest if last else watermark,
                identities=tuple(identities) if page == 1 else (),
            )

    def _pages(self, path: str, params: dict[str, str | int]) -> Iterator[Any]:
        for items, _ in self._paged(path, params):
            yield from items

    def _paged(self, path: str, params: dict[str, str | int]) -> Iterator[tuple[list[Any], bool]]:
        """``(items, is_last_page)`` per page: ``@odata.nextLink`` if given, else ``$skip``."""
        top = self.config.page_size
        query: dict[str, str | int] | None = {**params, "$top": top}
        url = path
        skip = 0
        while True:
            body = self._http.request_json("GET", url, params=query)
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


def _checked(source: str, watermark: str | None) -> str | None:
    if watermark is not None:
        try:
            parse_time(watermark)
        except InvalidSignalError as exc:
            raise SourceError(
                source, f"stored watermark {watermark!r} is not an RFC 3339 time (tip: reset it)"
            ) from exc
    return watermark
