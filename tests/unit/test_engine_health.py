"""Health signals in the decision: scored only when the policy weighs them, and the
``unhealthy_target`` stance, which names what is unwell."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from builders import NOW, POLICY_YAML, exposure, fresh, make_policy, signal, target
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import Severity, SignalKind, Snapshot, Verdict, parse_asset
from clearance.model.canonical import canonical_json
from clearance.model.health import HealthCondition, Problem, health_signals
from clearance.model.snapshot import Match, snapshot_from_dict
from clearance.policy.compiled import Policy
from clearance.policy.load import load_policy_text

TARGET = target()
EXPOSURE = exposure(TARGET, direct=("pod:shop/api-1",), host=("host:node-1",))


def health_policy(stance: str | None = "approve", half_life: str | None = "1h") -> Policy:
    data: dict[str, Any] = yaml.safe_load(POLICY_YAML)
    if half_life is not None:
        data["scoring"]["half_lives"]["health"] = half_life
        data["scoring"]["kinds"] = {
            "health": {
                "severity_weights": {
                    "unknown": 0.02, "informational": 0.0, "low": 0.02, "medium": 0.05,
                    "high": 0.1, "critical": 0.15, "fatal": 0.15,
                },
                "cap": 0.25,
            }
        }  # fmt: skip
    if stance is not None:
        data["environments"]["production"]["stances"]["unhealthy_target"] = stance
    return make_policy(yaml.safe_dump(data))


def crash_loop(**kw: Any) -> Any:
    defaults: dict[str, Any] = {
        "kind": SignalKind.HEALTH,
        "severity": Severity.HIGH,
        "confidence": 1.0,
        "assets": ("pod:shop/api-1",),
        "age": timedelta(0),
        "rule": "CrashLoopBackOff",
        "title": "CrashLoopBackOff: pod shop/api-1 in cluster prod-eu (container app)",
    }
    return signal("kubernetes:prod-eu/pod/shop/api-1/CrashLoopBackOff", **{**defaults, **kw})


def run(policy: Policy, *signals: Any) -> Any:
    matches = tuple(m for s in signals for m in _match(s))
    snapshot = Snapshot(EXPOSURE, matches, (fresh(),))
    return decide(TARGET, snapshot, policy, NOW)


def _match(s: Any) -> list[Match]:
    return list(SignalIndex([s]).match(EXPOSURE))


def test_a_policy_written_before_health_still_loads_and_does_not_weigh_it() -> None:
    old = make_policy()  # no half_lives.health, no unhealthy_target stance
    decision = run(old, crash_loop())
    assert decision.verdict is Verdict.PROCEED
    assert decision.score == 0
    assert not decision.contributors


def test_a_crash_looping_pod_requires_approval_naming_the_pod() -> None:
    decision = run(health_policy(), crash_loop())
    assert decision.verdict is Verdict.APPROVE
    [reason] = [r for r in decision.reasons if r.code == "stance:unhealthy_target"]
    assert "CrashLoopBackOff: pod shop/api-1" in reason.message
    assert "the production stance for unhealthy_target requires approval" in reason.message
    assert reason.signal == "kubernetes:prod-eu/pod/shop/api-1/CrashLoopBackOff"
    assert decision.score > 0  # weighed too, since the policy gives health a half-life


def test_a_link_is_named_when_the_signal_has_one() -> None:
    linked = replace(crash_loop(), url="https://prometheus.example/graph?g0.expr=up")
    decision = run(health_policy(), linked)
    [reason] = [r for r in decision.reasons if r.code == "stance:unhealthy_target"]
    assert "<https://prometheus.example/graph?g0.expr=up>" in reason.message


def test_low_severity_health_only_scores() -> None:
    evicted = crash_loop(severity=Severity.LOW, rule="Evicted")
    decision = run(health_policy(stance="block"), evicted)
    assert not [r for r in decision.reasons if r.code == "stance:unhealthy_target"]


def test_an_event_older_than_the_health_half_life_no_longer_fires_the_stance() -> None:
    restarted = crash_loop(rule="Restarting", severity=Severity.MEDIUM, age=timedelta(hours=2))
    assert run(health_policy(stance="block"), restarted).verdict is not Verdict.BLOCK
    recent = crash_loop(rule="Restarting", severity=Severity.MEDIUM, age=timedelta(minutes=20))
    assert run(health_policy(stance="block"), recent).verdict is Verdict.BLOCK


def test_without_the_stance_health_counts_by_score_alone() -> None:
    decision = run(health_policy(stance=None), crash_loop())
    assert not [r for r in decision.reasons if r.code == "stance:unhealthy_target"]
    assert decision.score > 0


def test_the_shipped_example_policy_loads_with_health() -> None:
    text = (Path(__file__).parents[2] / "examples" / "policy.yaml").read_bytes()
    policy = load_policy_text(text, "examples/policy.yaml")
    assert policy.environment("production").stances.unhealthy_target is not None


def test_a_decision_on_inventory_health_replays_byte_for_byte_from_its_record() -> None:
    condition = HealthCondition(
        "prod-eu",
        "pod shop/api-1",
        Problem.CRASH_LOOP,
        "container app: CrashLoopBackOff, 7 restarts",
        (parse_asset("pod:shop/api-1"),),
        NOW - timedelta(minutes=20),
        7,
    )
    signals = health_signals((condition,), NOW)
    matches = SignalIndex(signals).match(EXPOSURE)
    snapshot = Snapshot(EXPOSURE, matches, (fresh(),))
    policy = health_policy()
    recorded = decide(TARGET, snapshot, policy, NOW)
    replayed = decide(TARGET, snapshot_from_dict(snapshot.to_dict()), policy, NOW)
    assert canonical_json(recorded.to_dict()) == canonical_json(replayed.to_dict())
    assert recorded.verdict is Verdict.APPROVE
