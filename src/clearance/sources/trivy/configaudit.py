"""Trivy Operator ``ConfigAuditReport`` resources → ``posture`` signals on the workload (used by
:class:`clearance.sources.trivy.report.TrivyNormalizer`).

A report audits one Kubernetes object's configuration: every check with ``success: false`` is a
misconfiguration (``KSV014 Root file system is not read-only``) of that workload. The workload is
named by the labels ``trivy-operator.resource.{kind,name,namespace}`` as on a VulnerabilityReport,
else by the report's controlling ``ownerReferences`` entry in its own namespace; it becomes a
``workload:<cluster>/<ns>/<kind>/<name>`` asset, so the cluster must be known (``--cluster``).
One signal per (workload, check): a later report of the same workload updates it, and a check
that passes again is ``resolved``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from clearance.model.assets import AssetKind
from clearance.model.signal import MAX_TITLE, Signal, SignalKind, SignalStatus, SignalUid
from clearance.sources._mapping import RejectedError, refs
from clearance.sources._push import Item
from clearance.sources._vulns import SEVERITY
from clearance.sources.interface import Quarantined
from clearance.sources.trivy.operator import report_of, report_time, report_workload, text

__all__ = ["config_audit_signals"]


def config_audit_signals(
    resource: dict[str, Any],
    item: Item,
    *,
    source: str,
    cluster: str | None,
    seen: datetime | None,
) -> tuple[list[Signal], list[Quarantined]]:
    report = report_of(resource)
    metadata = resource.get("metadata")
    workload = report_workload(metadata, cluster) or _owner(metadata, cluster)
    assets = refs([(AssetKind.WORKLOAD, workload)])
    if not assets:
        raise RejectedError(
            "no_asset",
            "the report names no workload (labels or ownerReferences), or no --cluster was given",
        )
    checks = report.get("checks") or []
    if not isinstance(checks, list):
        raise RejectedError("invalid_field", "field 'report.checks' is not a list")
    moment = report_time(report.get("updateTimestamp"), metadata, seen)
    signals: list[Signal] = []
    for check in checks:
        if not isinstance(check, dict) or not text(check.get("checkID")):
            continue
        check_id = text(check["checkID"])
        messages = check.get("messages") or []
        said = text(messages[0]) if isinstance(messages, list) and messages else ""
        title = f"{check_id} {text(check.get('title')) or check_id}" + (f": {said}" if said else "")
        key = hashlib.sha256(f"{assets[0].value}|{check_id}".encode()).hexdigest()[:24]
        label = text(check.get("severity")).upper()
        signals.append(
            Signal(
                uid=SignalUid(f"{source}:cfg:{key}"),
                source=source,
                kind=SignalKind.POSTURE,
                title=" ".join(title.split()).encode("ascii", "replace").decode()[:MAX_TITLE],
                severity=SEVERITY.get(label, SEVERITY["UNKNOWN"]),
                confidence=1.0,
                status=SignalStatus.RESOLVED if check.get("success") is True else SignalStatus.OPEN,
                first_seen=moment,
                last_seen=moment,
                assets=tuple(assets),
                rule=check_id[:500],
            )
        )
    return signals, []


def _owner(metadata: Any, cluster: str | None) -> str | None:
    if not cluster or not isinstance(metadata, dict):
        return None
    namespace = text(metadata.get("namespace"))
    owners = metadata.get("ownerReferences") or []
    for owner in owners if isinstance(owners, list) else ():
        if isinstance(owner, dict) and owner.get("controller") is not False:
            kind, name = text(owner.get("kind")), text(owner.get("name"))
            if kind and name and namespace:
                return f"{cluster}/{namespace}/{kind.lower()}/{name}"
    return None
