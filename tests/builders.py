"""Test data builders: small, explicit values for the domain types and a test policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from clearance.config import Config
from clearance.model import (
    ExposedAsset,
    Exposure,
    Proximity,
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    Snapshot,
    SourceHealth,
    Target,
    parse_asset,
)
from clearance.policy.compiled import Policy
from clearance.policy.schema import PolicyDocument
from clearance.snapshot import LiveEvidence, assemble
from clearance.validation import validate

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

POLICY_YAML = """\
schema_version: 1
environments:
  production:
    sensitivity: 2
    thresholds: {approve: 40, block: 80}
    freshness: {default: 15m, slow-feed: 2h}
    approvals: {required: 2, group: security}
    stances: {source_down: block, stale: approve, unknown_target: block, no_sources: block}
  development:
    sensitivity: 1
    thresholds: {approve: 60, block: 95}
    freshness: {default: 1d}
    approvals: {required: 1}
    stances: {source_down: proceed_with_warning, stale: proceed_with_warning,
              unknown_target: proceed_with_warning, no_sources: proceed_with_warning}
scoring:
  severity_weights: {unknown: 0.1, informational: 0.0, low: 0.1, medium: 0.3, high: 0.6,
                     critical: 0.9, fatal: 1.0}
  proximity_weights: {direct: 1.0, host: 0.8, namespace: 0.4, cluster: 0.2, environment: 0.1}
  half_lives: {detection: 6h, vulnerability: 30d, posture: 7d, incident: 1d, anomaly: 2h,
               known_exploited: 90d}
rules:
  - name: critical-detection-near-target
    when: >-
      signal.kind == "detection" && signal.severity >= 5
      && proximity in ["direct", "host"]
    verdict: block
    message: Active critical detection on the target or its host
    environments: [production]
"""


def make_policy(text: str = POLICY_YAML, **overrides: Any) -> Policy:
    data = yaml.safe_load(text)
    data.update(overrides)
    raw = yaml.safe_dump(data).encode()
    return Policy.build(validate(data, PolicyDocument), raw, "<test>")


def target(environment: str = "production", workload: str = "deployment/api") -> Target:
    return Target.of(environment, "prod-eu", "shop", workload)


def signal(
    uid: str = "edr:1",
    *,
    severity: Severity = Severity.HIGH,
    confidence: float = 0.9,
    kind: SignalKind = SignalKind.DETECTION,
    status: SignalStatus = SignalStatus.OPEN,
    assets: tuple[str, ...] = ("host:node-1",),
    age: timedelta = timedelta(minutes=10),
    rule: str | None = None,
    title: str = "Suspicious process",
) -> Signal:
    source = uid.split(":", 1)[0]
    return Signal(
        uid=SignalUid(uid),
        source=source,
        kind=kind,
        title=title,
        severity=severity,
        confidence=confidence,
        status=status,
        first_seen=NOW - age - timedelta(minutes=1),
        last_seen=NOW - age,
        assets=tuple(parse_asset(a) for a in assets),
        rule=rule,
    )


def exposure(tgt: Target, **groups: tuple[str, ...]) -> Exposure:
    assets = tuple(
        ExposedAsset(Proximity[group.upper()], parse_asset(ref), via="test")
        for group, refs in groups.items()
        for ref in refs
    )
    return Exposure(target=tgt, assets=assets, inventory="test")


def fresh(name: str = "edr", age: timedelta = timedelta(minutes=1)) -> SourceHealth:
    return SourceHealth(name=name, last_success=NOW - age)


def live_snapshot(
    config: Config, tgt: Target, now: datetime, manifest: dict[str, Any] | None = None
) -> Snapshot:
    """The snapshot a local check assembles: the configured sources read now."""
    return assemble(
        tgt,
        now,
        inventory=config.inventory,
        evidence=LiveEvidence.read(config.sources, now),
        expected=[s.name for s in config.sources],
        manifest=manifest,
    )
