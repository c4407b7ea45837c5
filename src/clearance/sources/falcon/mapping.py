"""CrowdStrike Falcon alerts, mapped to Clearance signals (host records: ``hosts``).

Pure functions over parsed JSON: no SDK, no network, no clock. The source module (:mod:`.source`)
feeds them pages fetched through FalconPy; :class:`FalconNormalizer` feeds them export files
(``clearance ingest --format falcon``). Both produce the same signals for the same alert.

Field facts (see ``docs/sources/crowdstrike.md`` and the real payloads under
``tests/fixtures/crowdstrike/``):

* ``severity_name`` is preferred over the 1–100 ``severity`` score; the score thresholds are
  CrowdStrike's own FQL guide's (≥90 critical, ≥70 high, ≥50 medium, ≥20 low).
* ``status`` is ``new | in_progress | closed | reopened``; ``closed`` resolves, ``reopened`` opens
  again, and a ``false_positive`` verdict (in ``tags`` or ``resolution``) suppresses.
* Timestamps are RFC 3339 with nanoseconds; Python keeps microseconds, which is enough for
  ordering because the watermark filter is inclusive (``>=``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from clearance.model.assets import AssetKind, AssetRef
from clearance.model.signal import (
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    parse_time,
)
from clearance.sources._hosts import kubernetes_pairs
from clearance.sources._mapping import ATTACK_TECHNIQUE, RejectedError, banded, parse_json, refs
from clearance.sources._pages import map_page, newest_time, quarantine_file
from clearance.sources.falcon.hosts import Device, HostIdentity, device_refs, host_identity
from clearance.sources.falcon.incidents import map_incidents
from clearance.sources.interface import Batch, Quarantined

__all__ = [
    "FalconNormalizer",
    "HostIdentity",
    "alert_watermark",
    "host_identity",
    "map_alerts",
    "severity_of",
]

_SEVERITY_NAMES = {
    "informational": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
_SCORE_BANDS = (
    (90, Severity.CRITICAL),
    (70, Severity.HIGH),
    (50, Severity.MEDIUM),
    (20, Severity.LOW),
)
_STATUS = {
    "new": SignalStatus.OPEN,
    "reopened": SignalStatus.OPEN,
    "in_progress": SignalStatus.IN_PROGRESS,
    "closed": SignalStatus.RESOLVED,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Mitre(_Model):
    technique_id: str | None = None


class _Alert(_Model):
    composite_id: str
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    pattern_id: int | str | None = None
    severity: int | None = None
    severity_name: str | None = None
    confidence: int | None = None
    status: str | None = None
    resolution: str | None = None
    tags: list[str] = []
    timestamp: str | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    created_timestamp: str | None = None
    updated_timestamp: str | None = None
    falcon_host_link: str | None = None
    agent_id: str | None = None
    device: Device | None = None
    mitre_attack: list[_Mitre] = []
    technique_id: str | None = None
    # Container runtime detections (field names from the runtime-detections FQL list; no real
    # alert sample carries them yet, see docs/sources/crowdstrike.md).
    cluster_name: str | None = None
    namespace: str | None = None
    pod_name: str | None = None
    container_id: str | None = None


def severity_of(name: str | None, score: int | None) -> Severity:
    """OCSF severity from ``severity_name``, else from the 1–100 ``severity`` score."""
    if name and (named := _SEVERITY_NAMES.get(name.strip().lower())) is not None:
        return named
    if score is None or score <= 0:
        return Severity.UNKNOWN
    return banded(score, _SCORE_BANDS, Severity.INFORMATIONAL)


def _status_of(alert: _Alert) -> SignalStatus:
    status = (alert.status or "new").strip().lower()
    if status == "reopened":
        return SignalStatus.OPEN  # a reopened alert is live again, whatever its old verdict
    verdicts = {t.lower() for t in alert.tags}
    if alert.resolution:
        verdicts.add(alert.resolution.lower())
    if "false_positive" in verdicts:
        return SignalStatus.SUPPRESSED
    # An unknown status is treated as open: failing closed beats hiding a new vendor state.
    return _STATUS.get(status, SignalStatus.OPEN)


def _alert_refs(
    alert: _Alert, hosts: Mapping[str, HostIdentity], clusters: Mapping[str, str]
) -> tuple[AssetRef, ...]:
    found = device_refs(alert.device, clusters) if alert.device else []
    pairs = kubernetes_pairs(alert.cluster_name, alert.namespace, alert.pod_name)
    found.extend(refs([(AssetKind.CONTAINER, alert.container_id), *pairs]))
    device_id = alert.agent_id or (alert.device.device_id if alert.device else None)
    if device_id and (host := hosts.get(device_id)) is not None:
        found.extend(host.assets)
    return tuple(sorted(set(found)))


def _techniques(alert: _Alert) -> tuple[str, ...]:
    found = [m.technique_id for m in alert.mitre_attack] + [alert.technique_id]
    return tuple(sorted({t for t in found if t and ATTACK_TECHNIQUE.match(t)}))


def _signal(
    alert: _Alert,
    digest: str,
    source: str,
    hosts: Mapping[str, HostIdentity],
    clusters: Mapping[str, str],
) -> Signal:
    first_text = alert.first_timestamp or alert.timestamp or alert.created_timestamp
    if not first_text:
        raise RejectedError("missing_field", "alert has no timestamp, first_timestamp or created")
    first = parse_time(first_text)
    last_text = alert.last_timestamp or alert.timestamp
    last = max(first, parse_time(last_text)) if last_text else first
    assets = _alert_refs(alert, hosts, clusters)
    if not assets:
        raise RejectedError("no_asset", "alert names no host, instance, IP, MAC or workload")
    confidence = 1.0 if alert.confidence is None else min(max(alert.confidence, 0), 100) / 100
    rule = alert.name or (None if alert.pattern_id is None else str(alert.pattern_id))
    return Signal(
        uid=SignalUid(f"{source}:{alert.composite_id}"),
        source=source,
        kind=SignalKind.DETECTION,
        title=alert.display_name or alert.name or alert.description or alert.composite_id,
        severity=severity_of(alert.severity_name, alert.severity),
        confidence=confidence,
        status=_status_of(alert),
        first_seen=first,
        last_seen=last,
        assets=assets,
        rule=rule,
        techniques=_techniques(alert),
        url=alert.falcon_host_link,
        raw_digest=digest,
    )


def map_alerts(
    items: Sequence[Any],
    *,
    source: str,
    location: str = "resources",
    hosts: Mapping[str, HostIdentity] | None = None,
    clusters: Mapping[str, str] | None = None,
) -> tuple[list[Signal], list[Quarantined]]:
    """Map alert objects to signals; each unusable one is quarantined with its reason."""
    known, named = hosts or {}, clusters or {}

    def map_one(item: dict[str, Any], digest: str) -> Signal:
        alert = _Alert.model_validate(item)
        if not alert.composite_id.strip():
            raise RejectedError("missing_field", "alert has an empty composite_id")
        return _signal(alert, digest, source, known, named)

    return map_page(items, map_one, source=source, location=location, expected="an alert object")


def alert_watermark(items: Iterable[Any], current: str | None = None) -> str | None:
    """The latest ``updated_timestamp`` among ``items`` (RFC 3339, microseconds), or ``current``.

    Quarantined alerts count: they were received and kept, so the next fetch need not repeat them.
    """
    return newest_time(items, lambda item: item.get("updated_timestamp"), current)


@dataclass
class FalconNormalizer:
    """``clearance ingest --format falcon``: Falcon API responses or exports, as files.

    Accepts an alerts response (``/alerts/combined/alerts/v1`` or ``/alerts/entities/alerts/v2``:
    an object with ``resources``), a JSON list of alerts, one alert object, a host response
    (``/devices/entities/devices/v2``), whose records become identities, or an incidents
    response (``/incidents/entities/incidents/GET/v1``), a list of incidents or one incident.
    """

    format: ClassVar[str] = "falcon"
    source: str = "falcon"
    clusters: Mapping[str, str] = field(default_factory=dict)

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        try:
            parsed = parse_json(data)
        except ValueError as exc:
            bad = quarantine_file(self.source, "invalid_json", f"not JSON: {exc}", data, location)
            return Batch(quarantined=(bad,))
        where = f"{location}:resources" if location else "resources"
        if isinstance(parsed, dict) and ("composite_id" in parsed or "incident_id" in parsed):
            parsed = [parsed]
        items = parsed.get("resources") if isinstance(parsed, dict) else parsed
        if not isinstance(items, list):
            detail = "expected a Falcon response with 'resources', a list of alerts or an alert"
            bad = quarantine_file(self.source, "invalid_shape", detail, data, location, keep=4096)
            return Batch(quarantined=(bad,))
        if items and all(isinstance(i, dict) and "incident_id" in i for i in items):
            signals, quarantined = map_incidents(
                items, source=self.source, location=where, clusters=self.clusters
            )
            return Batch(signals=tuple(signals), quarantined=tuple(quarantined))
        devices = [i for i in items if isinstance(i, dict) and "device_id" in i]
        if devices and len(devices) == len(items) and not any("composite_id" in i for i in devices):
            found = (host_identity(d, self.clusters) for d in devices)
            return Batch(identities=tuple(h.identity() for h in found if h is not None))
        signals, quarantined = map_alerts(
            items, source=self.source, location=where, clusters=self.clusters
        )
        hosts = [
            h
            for i in items
            if isinstance(i, dict)
            and (h := host_identity(i.get("device"), self.clusters)) is not None
        ]
        unique = {h.device_id: h for h in hosts}
        return Batch(
            signals=tuple(signals),
            quarantined=tuple(quarantined),
            identities=tuple(h.identity() for h in unique.values()),
        )
