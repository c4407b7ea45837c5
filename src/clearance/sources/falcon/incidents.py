"""CrowdStrike Falcon incidents (``/incidents/entities/incidents/GET/v1``) → ``incident`` signals.

An incident groups the detections of one intrusion on one or more hosts and carries
CrowdStrike's CrowdScore for it: ``fine_score`` 0–100, shown in the console as 0–10. Its
severity follows the CrowdScore (≥ 80 critical, ≥ 60 high, ≥ 40 medium, ≥ 20 low, else
informational: Clearance's bands, as CrowdStrike publishes none), its status the incident's
workflow ``status`` (20 New and 25 Reopened are open, 30 In Progress in progress, 40 Closed
resolved; an unknown one is open, failing closed), and its assets every involved host's names
(``hosts[]``, the same device records as the hosts API). A real record:
``tests/fixtures/crowdstrike/incident.demisto-test-data.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from clearance.model.signal import (
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    parse_time,
)
from clearance.sources._mapping import RejectedError, banded
from clearance.sources._pages import map_page
from clearance.sources.falcon.hosts import Device, device_refs
from clearance.sources.interface import Quarantined

__all__ = ["crowdscore_severity", "map_incidents"]

_STATUS = {20: SignalStatus.OPEN, 25: SignalStatus.OPEN, 30: SignalStatus.IN_PROGRESS,
           40: SignalStatus.RESOLVED}  # fmt: skip
_CROWDSCORE_BANDS = (
    (80, Severity.CRITICAL),
    (60, Severity.HIGH),
    (40, Severity.MEDIUM),
    (20, Severity.LOW),
)


class _Incident(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    incident_id: str
    name: str | None = None
    hosts: list[Device] = []
    created: str | None = None
    start: str | None = None
    end: str | None = None
    modified_timestamp: str | None = None
    status: int | None = None
    fine_score: int | None = None


def crowdscore_severity(fine_score: int | None) -> Severity:
    if fine_score is None or fine_score < 0:
        return Severity.UNKNOWN
    return banded(fine_score, _CROWDSCORE_BANDS, Severity.INFORMATIONAL)


def map_incidents(
    items: Sequence[Any],
    *,
    source: str,
    location: str = "resources",
    clusters: Mapping[str, str] | None = None,
) -> tuple[list[Signal], list[Quarantined]]:
    """Map incident objects to signals; each unusable one is quarantined with its reason."""
    named = clusters or {}

    def map_one(item: dict[str, Any], digest: str) -> Signal:
        incident = _Incident.model_validate(item)
        if not incident.incident_id.strip():
            raise RejectedError("missing_field", "incident has an empty incident_id")
        assets = sorted({ref for host in incident.hosts for ref in device_refs(host, named)})
        if not assets:
            raise RejectedError("no_asset", "the incident names no host Clearance can match")
        first_text = incident.start or incident.created
        if not first_text:
            raise RejectedError("missing_field", "incident has no start or created time")
        first = parse_time(first_text)
        last = max(
            [first, *(parse_time(t) for t in (incident.end, incident.modified_timestamp) if t)]
        )
        score = incident.fine_score
        shown = f" (CrowdScore {score / 10:g})" if score is not None else ""
        return Signal(
            uid=SignalUid(f"{source}:{incident.incident_id}"),
            source=source,
            kind=SignalKind.INCIDENT,
            title=(incident.name or f"Incident {incident.incident_id}") + shown,
            severity=crowdscore_severity(score),
            confidence=1.0,
            status=_STATUS.get(incident.status or 20, SignalStatus.OPEN),
            first_seen=first,
            last_seen=last,
            assets=tuple(assets),
            rule="incident",
            raw_digest=digest,
        )

    return map_page(items, map_one, source=source, location=location, expected="an incident")
