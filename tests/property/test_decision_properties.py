"""Properties of scoring and the decision that must hold for any input."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from builders import NOW, exposure, fresh, make_policy, target
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import (
    Decision,
    Exemption,
    Proximity,
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    Snapshot,
    Verdict,
    parse_asset,
)
from clearance.policy.load import load_policy
from clearance.scoring import capped_risk, risk

POLICY = make_policy()
# The shipped policy weighs kinds apart and caps some (scoring.kinds): every property below
# holds for it too.
BY_KIND = load_policy(Path(__file__).parents[2] / "examples" / "policy.yaml")
POLICIES = (POLICY, BY_KIND)
TARGET = target()
GROUPS = {
    Proximity.DIRECT: "pod:shop/api-1",
    Proximity.HOST: "host:node-1",
    Proximity.NAMESPACE: "namespace:prod-eu/shop",
    Proximity.CLUSTER: "cluster:prod-eu",
}
EXPOSURE = exposure(TARGET, **{p.label: (ref,) for p, ref in GROUPS.items()})

severities = st.sampled_from(list(Severity))
# The policy orders weights from informational to fatal; "unknown" stands outside that order.
known_severities = st.sampled_from([s for s in Severity if s is not Severity.UNKNOWN])
proximities = st.sampled_from(list(GROUPS))
confidences = st.floats(min_value=0, max_value=1, allow_nan=False)
ages = st.integers(min_value=0, max_value=90 * 86400)


@st.composite
def signals(draw: st.DrawFn, uid: int | None = None) -> Signal:
    n = draw(st.integers(0, 10_000)) if uid is None else uid
    age = timedelta(seconds=draw(ages))
    return Signal(
        uid=SignalUid(f"edr:{n}"),
        source="edr",
        kind=draw(st.sampled_from(list(SignalKind))),
        title=f"finding {n}",
        severity=draw(severities),
        confidence=draw(confidences),
        status=draw(st.sampled_from(list(SignalStatus))),
        first_seen=NOW - age - timedelta(seconds=1),
        last_seen=NOW - age,
        assets=(parse_asset(GROUPS[draw(proximities)]),),
    )


signal_lists = st.lists(signals(), max_size=12, unique_by=lambda s: s.uid)


def snapshot(items: list[Signal], exemptions: tuple[Exemption, ...] = ()) -> Snapshot:
    return Snapshot(EXPOSURE, SignalIndex(items).match(EXPOSURE), (fresh(),), exemptions)


@given(st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), max_size=30))
def test_risk_is_bounded(contributions: list[float]) -> None:
    assert 0.0 <= risk(contributions) <= 100.0


@given(signal_lists)
def test_score_is_bounded_and_independent_of_signal_order(items: list[Signal]) -> None:
    for policy in POLICIES:
        forward = decide(TARGET, snapshot(items), policy, NOW)
        backward = decide(TARGET, snapshot(list(reversed(items))), policy, NOW)
        assert 0.0 <= forward.score <= 100.0
        assert forward.to_json() == backward.to_json()


@given(
    st.lists(
        st.tuples(st.sampled_from(list(SignalKind)), st.floats(0, 1, allow_nan=False)),
        max_size=40,
    ),
    st.dictionaries(st.sampled_from(list(SignalKind)), st.floats(0, 1, allow_nan=False)),
    st.tuples(st.sampled_from(list(SignalKind)), st.floats(0, 1, allow_nan=False)),
)
def test_capped_risk_is_bounded_monotone_and_each_cap_holds(
    contributions: list[tuple[SignalKind, float]],
    caps: dict[SignalKind, float],
    extra: tuple[SignalKind, float],
) -> None:
    score, totals = capped_risk(contributions, caps)
    assert 0.0 <= score <= 100.0
    assert capped_risk(list(reversed(contributions)), caps)[0] == score
    assert capped_risk([*contributions, extra], caps)[0] >= score  # more evidence, never less
    for total in totals:  # the record rounds to 6 places
        assert total.counted <= total.total + 1e-6
        if total.cap is not None:
            assert total.counted <= total.cap + 1e-6
    for kind, cap in caps.items():  # one kind alone can never count for more than its cap
        alone = [(k, c) for k, c in contributions if k is kind]
        assert capped_risk(alone, caps)[0] <= round(100.0 * cap, 2)


@given(signal_lists, signals(uid=99_999), known_severities, known_severities, confidences)
def test_score_is_monotone_in_severity_and_confidence(
    items: list[Signal], extra: Signal, base: Severity, severity: Severity, confidence: float
) -> None:
    extra = replace(extra, status=SignalStatus.OPEN, severity=base)
    low = replace(
        extra, severity=min(extra.severity, severity), confidence=min(extra.confidence, confidence)
    )
    high = replace(
        extra, severity=max(extra.severity, severity), confidence=max(extra.confidence, confidence)
    )
    for policy in POLICIES:
        assert (
            decide(TARGET, snapshot([*items, low]), policy, NOW).score
            <= decide(TARGET, snapshot([*items, high]), policy, NOW).score
        )


@given(signal_lists, signals(uid=99_999), proximities, proximities)
def test_score_is_monotone_in_proximity(
    items: list[Signal], extra: Signal, a: Proximity, b: Proximity
) -> None:
    near, far = sorted((a, b))
    extra = replace(extra, status=SignalStatus.OPEN)
    closer = replace(extra, assets=(parse_asset(GROUPS[near]),))
    further = replace(extra, assets=(parse_asset(GROUPS[far]),))
    assert (
        decide(TARGET, snapshot([*items, further]), POLICY, NOW).score
        <= decide(TARGET, snapshot([*items, closer]), POLICY, NOW).score
    )


@given(signal_lists, signals(uid=99_999))
def test_a_resolved_signal_never_raises_risk_or_the_verdict(
    items: list[Signal], extra: Signal
) -> None:
    before = decide(TARGET, snapshot(items), POLICY, NOW)
    after = decide(
        TARGET, snapshot([*items, replace(extra, status=SignalStatus.RESOLVED)]), POLICY, NOW
    )
    assert after.score == before.score
    assert after.verdict is before.verdict


@settings(max_examples=50)
@given(signal_lists, st.integers(min_value=0, max_value=10 * 86400))
def test_an_expired_exception_never_applies(items: list[Signal], expired_for: int) -> None:
    exemptions = tuple(
        Exemption(
            id=f"EX-{s.uid}",
            signal=s.uid,
            rule=None,
            environment=TARGET.environment,
            cluster=TARGET.cluster,
            namespace=TARGET.namespace,
            workload=str(TARGET.workload),
            expires=NOW - timedelta(seconds=expired_for),
            reason="r",
            ticket="T-1",
            approver="a",
        )
        for s in items
    )
    with_expired = decide(TARGET, snapshot(items, exemptions), POLICY, NOW)
    without = decide(TARGET, snapshot(items), POLICY, NOW)
    assert with_expired.waived == ()
    assert with_expired.verdict is without.verdict
    assert with_expired.score == without.score


@given(signal_lists)
def test_an_active_critical_detection_next_to_the_target_is_never_waved_through(
    items: list[Signal],
) -> None:
    critical = Signal(
        uid=SignalUid("edr:critical"),
        source="edr",
        kind=SignalKind.DETECTION,
        title="ransomware",
        severity=Severity.CRITICAL,
        confidence=0.01,
        status=SignalStatus.OPEN,
        first_seen=NOW - timedelta(days=30),
        last_seen=NOW - timedelta(days=29),
        assets=(parse_asset("host:node-1"),),
    )
    assert decide(TARGET, snapshot([*items, critical]), POLICY, NOW).verdict is Verdict.BLOCK


@settings(max_examples=50)
@given(signal_lists, st.data())
def test_a_decision_reads_back_from_its_json_unchanged(
    items: list[Signal], data: st.DataObject
) -> None:
    """``Decision.from_dict`` inverts ``to_dict``: what the service answers renders as decided."""
    waived = data.draw(st.lists(st.sampled_from(items), unique=True) if items else st.just([]))
    exemptions = tuple(
        Exemption(
            id=f"EX-{s.uid}", signal=s.uid, rule=None, environment=TARGET.environment,
            cluster=TARGET.cluster, namespace=TARGET.namespace, workload=str(TARGET.workload),
            expires=NOW + timedelta(days=1), reason="r", ticket="T-1", approver="a",
        )
        for s in waived
    )  # fmt: skip
    for policy in POLICIES:  # with and without per-kind totals
        decision = decide(TARGET, snapshot(items, exemptions), policy, NOW)
        again = Decision.from_dict(json.loads(decision.to_json()))
        assert again == decision
        assert again.to_json() == decision.to_json()


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30))
def test_risk_clamps_each_contribution_as_min_max_did(values: list[float]) -> None:
    # risk() clamps inline for speed; any float, NaN and infinities included, must give the
    # score the min/max form gave (the bytes of recorded decisions depend on it).
    remaining = math.prod(1.0 - min(1.0, max(0.0, c)) for c in sorted(values))
    expected = round(100.0 * (1.0 - remaining), 2)
    got = risk(values)
    assert got == expected or (math.isnan(got) and math.isnan(expected))
