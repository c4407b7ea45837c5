"""Alertmanager alerts (API v2 ``GettableAlert``) → ``health`` signals.

The shape (``api/v2/openapi.yaml`` of prometheus/alertmanager, definitions ``gettableAlert``,
``alertStatus``, ``labelSet``): ``labels`` and ``annotations`` maps of strings, ``fingerprint``
(a hash of the label set: the alert's identity), ``startsAt``, ``updatedAt``, ``endsAt`` (RFC
3339), ``generatorURL`` (the rule's expression in the Prometheus UI), ``receivers`` and
``status: {state: unprocessed|active|suppressed, silencedBy, inhibitedBy}``. The same alert,
inside an ``alerts`` list with ``status: firing|resolved``, is what Alertmanager's webhook
sends; both are accepted, so a saved API answer or webhook body can be ingested.

Mapping: uid ``<source>:<fingerprint>``; rule = the ``alertname`` label; title = alertname and
the ``summary`` (else ``description``) annotation; severity from the ``severity`` label
(:data:`DEFAULT_SEVERITIES`, configurable); first seen ``startsAt``, last seen the later of
``startsAt`` and ``updatedAt``; the link ``generatorURL``; assets from the labels
(:mod:`clearance.sources._labels`). A webhook alert whose status is ``resolved`` is stored
resolved. An alert naming no object the mapping knows (a cluster-wide alert, or labels the
mapping does not name) is quarantined as ``no_target``, so a mapping to fix shows in the
source's counts; a malformed one as ``malformed_alert`` (or ``bad_asset``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from clearance.errors import InvalidAssetError, InvalidSignalError
from clearance.model.quarantine import Quarantined, payload_digest
from clearance.model.signal import (
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    parse_time,
)
from clearance.sources._labels import LabelMapping, assets_of
from clearance.sources._pages import read_items
from clearance.sources.interface import Batch

__all__ = ["DEFAULT_SEVERITIES", "AlertmanagerNormalizer", "SeverityName", "counts", "map_alerts"]

# The ``severity`` label values of the kube-prometheus and Sloth rules, and common others.
SeverityName = Literal["unknown", "informational", "low", "medium", "high", "critical", "fatal"]
DEFAULT_SEVERITIES: dict[str, SeverityName] = {
    "critical": "critical",
    "page": "critical",
    "error": "high",
    "high": "high",
    "warning": "medium",
    "ticket": "medium",
    "info": "informational",
    "none": "informational",
}
_TITLE = 400


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore")
    state: str = "active"


class _Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: str  # noqa: N815 - the API's field name
    updatedAt: str | None = None  # noqa: N815
    generatorURL: str | None = None  # noqa: N815
    status: _Status | str = _Status()


def _severity(labels: Mapping[str, str], severities: Mapping[str, str], default: str) -> Severity:
    label = labels.get("severity", "").strip().lower()
    return Severity[severities.get(label, default).upper()]


def map_alert(
    item: Any,
    *,
    source: str,
    cluster: str | None,
    labels: LabelMapping,
    severities: Mapping[str, str],
    default_severity: str,
) -> Signal | None:
    """One alert as a signal; None when its labels name no object the mapping knows. Raises
    ValueError (pydantic's, or a model error) when it is malformed."""
    alert = _Alert.model_validate(item)
    if not alert.fingerprint.strip():
        raise InvalidSignalError("empty fingerprint")
    assets = assets_of(alert.labels, labels, cluster)
    if not assets:
        return None
    name = alert.labels.get("alertname") or "alert"
    about = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    title = f"{name}: {about}" if about else name
    first = parse_time(alert.startsAt)
    last = max(first, parse_time(alert.updatedAt)) if alert.updatedAt else first
    resolved = alert.status == "resolved"  # a webhook alert's status is a plain string
    return Signal(
        uid=SignalUid(f"{source}:{alert.fingerprint.strip()}"),
        source=source,
        kind=SignalKind.HEALTH,
        title=title[:_TITLE],
        severity=_severity(alert.labels, severities, default_severity),
        confidence=1.0,
        status=SignalStatus.RESOLVED if resolved else SignalStatus.OPEN,
        first_seen=first,
        last_seen=last,
        assets=assets,
        rule=name[:200],
        url=alert.generatorURL or None,
    )


def counts(item: Any) -> bool:
    """Whether an alert is one to read: active (not silenced or inhibited: ``suppressed``, nor
    ``unprocessed``). Anything that is not an alert object is let through, for the mapping to
    quarantine."""
    status = item.get("status") if isinstance(item, dict) else None
    return not isinstance(status, dict) or status.get("state", "active") == "active"


def map_alerts(
    items: list[Any],
    *,
    source: str,
    cluster: str | None,
    labels: LabelMapping | None = None,
    severities: Mapping[str, str] | None = None,
    default_severity: str = "medium",
    location: str = "alerts",
) -> Batch:
    """Every alert of ``items``: signals, and the malformed ones quarantined with a reason."""
    signals: list[Signal] = []
    quarantined: list[Quarantined] = []
    mapping = labels or LabelMapping()
    # Label values are matched case-insensitively (``Warning`` and ``warning`` both occur).
    table = {
        k.strip().lower(): v
        for k, v in (DEFAULT_SEVERITIES if severities is None else severities).items()
    }
    for i, item in enumerate(items):
        reason, detail = "", ""
        try:
            signal = map_alert(
                item,
                source=source,
                cluster=cluster,
                labels=mapping,
                severities=table,
                default_severity=default_severity,
            )
        except (ValidationError, InvalidSignalError, InvalidAssetError, ValueError) as exc:
            reason = "bad_asset" if isinstance(exc, InvalidAssetError) else "malformed_alert"
            detail = str(exc).splitlines()[0][:500]
        else:
            if signal is not None:
                signals.append(signal)
                continue
            # Counted, not dropped: an alert the label mapping cannot place is usually a
            # mapping to fix (labels: in the source's config), and the count shows it.
            reason = "no_target"
            detail = (
                f"alert {item.get('labels', {}).get('alertname', '?')!r} names no namespace, "
                f"workload, pod or node under the label mapping ({mapping.namespace}, "
                f"{mapping.pod}, {mapping.node}, {', '.join(sorted(mapping.workloads))})"
            )
        raw = json.dumps(item, sort_keys=True, default=str).encode()
        # An unplaced alert is read again at every pull with a new updatedAt: its identity
        # (fingerprint) is what it is kept under, so the quarantine holds it once.
        identity = raw
        if reason == "no_target" and isinstance(item, dict):
            identity = json.dumps(item.get("fingerprint"), default=str).encode()
        quarantined.append(
            Quarantined(
                source=source,
                reason=reason,
                detail=detail,
                digest=payload_digest(identity),
                location=f"{location}[{i}]",
                payload=raw,
            )
        )
    return Batch(tuple(signals), tuple(quarantined))


class AlertmanagerNormalizer:
    """``clearance ingest --format alertmanager [--cluster C] FILE``: a saved
    ``GET /api/v2/alerts`` answer (a JSON list) or a webhook body (``{"alerts": [...]}``)."""

    format: ClassVar[str] = "alertmanager"

    def __init__(self, source: str = "alertmanager", *, cluster: str | None = None) -> None:
        self.source = source
        self.cluster = cluster

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        items, where, problem = read_items(
            data, source=self.source, location=location, keys=("alerts",)
        )
        if problem is not None:
            return Batch(quarantined=(problem,))
        # As the source reads them: a silenced or inhibited alert is acknowledged noise.
        items = [item for item in items if counts(item)]
        return map_alerts(items, source=self.source, cluster=self.cluster, location=where)
