"""Datadog monitors (API v1 ``Monitor``) → ``health`` signals.

Fields read (https://docs.datadoghq.com/api/latest/monitors/#get-all-monitor-details; fixture
tests/fixtures/datadog/): ``id``, ``name``, ``overall_state`` (``Alert``, ``Warn``, ``No Data``,
``OK``, ``Ignored``, ``Skipped``, ``Unknown``), ``priority`` (1 = P1 … 5 = P5, or null), ``tags``
(``key:value`` strings). A monitor in one of the configured states becomes an open signal:

* uid ``<source>:<id>``; rule and title the monitor's name (title adds the state);
* severity from the priority (P1 critical, P2 high, P3 medium, P4 low, P5 informational; none:
  ``default_severity``);
* assets from its tags: Datadog's Kubernetes tags (``kube_cluster_name``, ``kube_namespace``,
  ``pod_name``, ``kube_deployment``…, through a :class:`LabelMapping`), and every configured
  target whose tags the monitor carries (``service:checkout`` + ``env:prod`` → the workload);
* the link: the monitor's page in the Datadog app.

Each monitor is parsed by the SDK's own ``Monitor`` model, one at a time, so one malformed
monitor is quarantined while its page is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clearance.errors import InvalidAssetError
from clearance.model.assets import AssetRef, parse_asset
from clearance.model.signal import Severity, Signal, SignalKind, SignalStatus, SignalUid
from clearance.sources._labels import LabelMapping, assets_of

__all__ = ["DATADOG_LABELS", "DatadogTarget", "MonitorState", "check_targets", "monitor_signal"]

MonitorState = Literal["Alert", "Warn", "No Data"]
SeverityName = Literal["unknown", "informational", "low", "medium", "high", "critical", "fatal"]

# Datadog's Kubernetes tags (the Agent's kubernetes_state and tagger).
DATADOG_LABELS = LabelMapping(
    cluster="kube_cluster_name",
    namespace="kube_namespace",
    pod="pod_name",
    node="kube_node",
    workloads={
        "kube_deployment": "deployment",
        "kube_stateful_set": "statefulset",
        "kube_daemon_set": "daemonset",
        "kube_job": "job",
        "kube_cronjob": "cronjob",
        "kube_argo_rollout": "rollout",
    },
)
_PRIORITY = {
    1: Severity.CRITICAL,
    2: Severity.HIGH,
    3: Severity.MEDIUM,
    4: Severity.LOW,
    5: Severity.INFORMATIONAL,
}


class DatadogTarget(BaseModel):
    """Monitors carrying every one of ``tags`` are about ``assets``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: list[str] = Field(min_length=1)
    assets: list[str] = Field(min_length=1)

    def refs(self) -> tuple[AssetRef, ...]:
        return tuple(parse_asset(a) for a in self.assets)


def _tag_map(tags: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for tag in tags:
        key, sep, value = str(tag).partition(":")
        if sep and key not in found:
            found[key] = value
    return found


def monitor_signal(
    monitor_id: int,
    name: str,
    state: str,
    priority: int | None,
    tags: Sequence[str],
    *,
    source: str,
    seen: datetime,
    labels: LabelMapping,
    targets: Sequence[DatadogTarget],
    default_severity: SeverityName,
    link: str,
) -> Signal | None:
    """The monitor's signal (open), or None when no tag places it. Raises
    :class:`InvalidAssetError` or :class:`InvalidSignalError` for values that cannot be one."""
    carried = {str(t).strip().lower() for t in tags}
    refs: list[AssetRef] = list(assets_of(_tag_map(tags), labels, None))
    for target in targets:
        if {t.strip().lower() for t in target.tags} <= carried:
            refs.extend(target.refs())
    if not refs:
        return None
    severity = _PRIORITY.get(priority or 0, Severity[default_severity.upper()])
    return Signal(
        uid=SignalUid(f"{source}:{monitor_id}"),
        source=source,
        kind=SignalKind.HEALTH,
        title=f"{name} ({state})"[:400],
        severity=severity,
        confidence=1.0,
        status=SignalStatus.OPEN,
        first_seen=seen,
        last_seen=seen,
        assets=tuple(dict.fromkeys(refs)),
        rule=name[:500],
        url=link,
    )


def check_targets(targets: Sequence[DatadogTarget]) -> None:
    for target in targets:
        for text in target.assets:
            try:
                parse_asset(text)
            except (InvalidAssetError, ValueError) as exc:
                raise ValueError(f"target asset {text!r}: {exc}") from exc
