"""Microsoft Defender for Endpoint alerts and machines, mapped to Clearance signals and identities.

Pure functions over parsed JSON: no network, no clock. The source module (:mod:`.source`) feeds them
``/api/alerts`` and ``/api/machines`` pages; :class:`DefenderNormalizer` feeds them export files
(``clearance ingest --format defender``). Both produce the same signals for the same alert.
Field facts: ``docs/sources/defender.md`` and ``tests/fixtures/defender/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from clearance.model.assets import AssetKind, AssetRef
from clearance.model.coverage import Managed
from clearance.model.signal import (
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    parse_time,
)
from clearance.sources._hosts import managed_host
from clearance.sources._mapping import ATTACK_TECHNIQUE, RejectedError, identity_group, refs
from clearance.sources._pages import map_page, newest_time, read_items
from clearance.sources.defender.incidents import map_incidents
from clearance.sources.interface import Batch

__all__ = [
    "DefenderNormalizer",
    "machine_identity",
    "managed_machine",
    "map_alerts",
    "newest_update",
]

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
    last_seen: str | None = None
    health_status: str | None = None
    onboarding_status: str | None = None


def _machine_refs(machine: _Machine) -> list[AssetRef]:
    pairs: list[tuple[AssetKind, str | None]] = [
        (AssetKind.HOST, machine.computer_dns_name),
        (AssetKind.IP, machine.last_ip_address),
    ]
    for address in machine.ip_addresses or ():
        pairs += [(AssetKind.IP, address.ip_address), (AssetKind.MAC, address.mac_address)]
    if machine.vm_metadata is not None:
        pairs.append((AssetKind.INSTANCE, machine.vm_metadata.vm_id))
    return refs(pairs)


def machine_identity(item: Any) -> tuple[str, dict[str, tuple[str, ...]]] | None:
    """``(machine id, identities group)`` for a machine record, None when it is unusable.

    ``lastExternalIpAddress`` is left out: it is the NAT address many machines share, and would
    join unrelated machines (see docs/sources/defender.md).
    """
    try:
        machine = _Machine.model_validate(item)
    except ValueError:
        return None
    group = identity_group(_machine_refs(machine))
    return (machine.id, group) if group else None


def managed_machine(record: Any, source: str, kind: str) -> Managed | None:
    """A machine record as an inventory entry; None if it names no machine.

    Only ``healthStatus: Active`` counts as working: ``Inactive`` (no signal for 7 days),
    ``ImpairedCommunication``, ``NoSensorData`` and the rest mean the sensor does not report what
    happens on the machine. A machine Defender discovered but that is not onboarded
    (``onboardingStatus`` other than ``Onboarded``) has no sensor at all; the field is absent
    from older responses, so absence is not held against a machine."""
    try:
        machine = _Machine.model_validate(record)
    except ValueError:
        return None
    onboarded = (machine.onboarding_status or "Onboarded").lower() == "onboarded"
    working = (machine.health_status or "").lower() == "active" and onboarded
    found = _machine_refs(machine)
    return managed_host(source, kind, machine.id, found, machine.last_seen, working)


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
        techniques=tuple(t for t in alert.mitre_techniques or () if ATTACK_TECHNIQUE.match(t)),
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


def newest_update(items: list[Any], current: str | None) -> str | None:
    """The newest ``lastUpdateTime`` on the page, or ``current``."""
    return newest_time(items, lambda item: item.get("lastUpdateTime"), current)


class DefenderNormalizer:
    """``clearance ingest --format defender``: an ``/api/alerts``, ``/api/machines`` or
    ``/api/incidents`` response (``{"value": [...]}``), or a JSON list of alerts or incidents."""

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
        # An incident has an incidentId and no id of its own; an alert has both.
        if items and all(
            isinstance(i, dict) and "incidentId" in i and "id" not in i for i in items
        ):
            return map_incidents(items, source=self.source, location=where)
        return map_alerts(items, source=self.source, location=where)
