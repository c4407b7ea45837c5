"""Microsoft Defender XDR incidents (``GET /api/incidents``) → ``incident`` signals on devices.

An incident is Defender's correlation of alerts into one attack, across devices, users and
mailboxes (https://learn.microsoft.com/defender-xdr/api-list-incidents; fixture
``tests/fixtures/defender/incidents.list.docs.json``). Clearance files it on every device its
alerts name (``alerts[].devices[].deviceDnsName``, else the machine inventory's name for the
``mdatpDeviceId``), with Defender's own ``severity`` (it has no Critical), the incident's
``status`` (``Active``, ``InProgress``, ``Resolved``; ``Redirected``, or a
``redirectIncidentId``: merged into another incident, which carries it) and its
``classification`` (``FalsePositive`` is suppressed). An incident that names no device (a
mailbox, a cloud app user) touches no deploy target and is quarantined with ``no_asset``.
Pure: no network, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from clearance.model.assets import AssetKind, AssetRef
from clearance.model.signal import Severity, Signal, SignalKind, SignalStatus, SignalUid, parse_time
from clearance.sources._mapping import ATTACK_TECHNIQUE, RejectedError, refs
from clearance.sources._pages import map_page
from clearance.sources.interface import Batch

__all__ = ["map_incidents"]

_SEVERITY = {
    "unspecified": Severity.UNKNOWN,
    "informational": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
}
_STATUS = {
    "active": SignalStatus.OPEN,
    "inprogress": SignalStatus.IN_PROGRESS,
    "resolved": SignalStatus.RESOLVED,
    "redirected": SignalStatus.SUPPRESSED,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=to_camel)


class _Device(_Model):
    mdatp_device_id: str | None = None
    device_dns_name: str | None = None


class _Alert(_Model):
    first_activity: str | None = None
    last_activity: str | None = None
    mitre_techniques: list[str] | None = None
    devices: list[_Device] | None = None


class _Incident(_Model):
    incident_id: int
    redirect_incident_id: int | None = None
    incident_name: str | None = None
    created_time: str
    last_update_time: str | None = None
    status: str | None = None
    severity: str | None = None
    classification: str | None = None
    alerts: list[_Alert] | None = None


def map_incidents(
    items: list[Any],
    *,
    source: str,
    location: str = "value",
    portal: str = "https://security.microsoft.com",
    hosts: Mapping[str, str] | None = None,
) -> Batch:
    """Map one page of incidents; each unusable one is quarantined with its reason.
    ``hosts``: machine id → host name, from the machines read in the same fetch."""
    known = hosts or {}

    def map_one(item: dict[str, Any], digest: str) -> Signal:
        incident = _Incident.model_validate(item)
        alerts = incident.alerts or []
        devices = [d for a in alerts for d in a.devices or ()]
        names = [d.device_dns_name or known.get(d.mdatp_device_id or "") for d in devices]
        assets: list[AssetRef] = refs([(AssetKind.HOST, n) for n in names])
        if not assets:
            raise RejectedError(
                "no_asset", f"incident {incident.incident_id} names no device Clearance can match"
            )
        created = parse_time(incident.created_time)
        starts = [parse_time(a.first_activity) for a in alerts if a.first_activity]
        first = min([created, *starts])
        ends = [parse_time(t) for t in (incident.last_update_time,) if t]
        ends += [parse_time(a.last_activity) for a in alerts if a.last_activity]
        status = _STATUS.get((incident.status or "active").strip().lower(), SignalStatus.OPEN)
        if incident.redirect_incident_id is not None:
            status = SignalStatus.SUPPRESSED  # merged: the incident it went to carries it
        if (incident.classification or "").strip().lower() == "falsepositive":
            status = SignalStatus.SUPPRESSED
        techniques = sorted(
            {t for a in alerts for t in a.mitre_techniques or () if ATTACK_TECHNIQUE.match(t)}
        )
        name = incident.incident_name or f"Incident {incident.incident_id}"
        return Signal(
            uid=SignalUid(f"{source}:incident-{incident.incident_id}"),
            source=source,
            kind=SignalKind.INCIDENT,
            title=f"{name} ({len(alerts)} alert(s))",
            severity=_SEVERITY.get((incident.severity or "").strip().lower(), Severity.UNKNOWN),
            confidence=1.0,
            status=status,
            first_seen=first,
            last_seen=max([first, *ends]),
            assets=tuple(sorted(set(assets))),
            rule="incident",
            techniques=tuple(techniques),
            url=f"{portal.rstrip('/')}/incidents/{incident.incident_id}",
            raw_digest=digest,
        )

    signals, quarantined = map_page(
        items, map_one, source=source, location=location, expected="an incident"
    )
    return Batch(signals=tuple(signals), quarantined=tuple(quarantined))
