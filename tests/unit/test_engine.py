from __future__ import annotations

from datetime import timedelta

import pytest

from builders import NOW, POLICY_YAML, exposure, fresh, make_policy, signal, target
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.errors import UnknownEnvironmentError
from clearance.model import (
    Exemption,
    Exposure,
    Freshness,
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    Snapshot,
    SourceHealth,
    Target,
    UnresolvedReason,
    Verdict,
    snapshot_from_dict,
)


def snap(
    tgt: Target,
    signals: list[Signal],
    sources: tuple[SourceHealth, ...] | None = None,
    exemptions: tuple[Exemption, ...] = (),
    exp: Exposure | None = None,
) -> Snapshot:
    exp = exp or exposure(tgt, direct=("pod:shop/api-1",), host=("host:node-1",))
    return Snapshot(
        exposure=exp,
        matches=SignalIndex(signals).match(exp),
        sources=(fresh(),) if sources is None else sources,
        exemptions=exemptions,
    )


def codes(decision: object) -> list[str]:
    return [r.code for r in decision.reasons if r.waived_by is None]  # type: ignore[attr-defined]


def test_no_signals_and_fresh_sources_proceed() -> None:
    tgt = target()
    d = decide(tgt, snap(tgt, []), make_policy(), NOW)
    assert d.verdict is Verdict.PROCEED
    assert d.score == 0
    assert "below the approval threshold" in d.reasons[0].message


def test_active_critical_detection_on_the_host_blocks_in_production() -> None:
    tgt = target()
    d = decide(
        tgt,
        snap(tgt, [signal(severity=Severity.CRITICAL, confidence=0.3, age=timedelta(days=2))]),
        make_policy(),
        NOW,
    )
    # The score alone is low (old, low-confidence), but the rule never waves it through.
    assert d.band is Verdict.PROCEED
    assert d.verdict is Verdict.BLOCK
    assert "rule:critical-detection-near-target" in codes(d)
    assert d.verdict.exit_code == 20


def test_resolved_detection_does_not_count() -> None:
    tgt = target()
    s = signal(severity=Severity.CRITICAL, status=SignalStatus.RESOLVED)
    d = decide(tgt, snap(tgt, [s]), make_policy(), NOW)
    assert d.verdict is Verdict.PROCEED
    assert d.contributors == ()


def test_score_between_thresholds_requires_approval_with_the_policy_group() -> None:
    tgt = target()
    # high 0.6 × 0.9 × ~0.98 × host 0.8 ≈ 0.42 → 42, production thresholds 20/40 after sensitivity 2
    d = decide(tgt, snap(tgt, [signal(severity=Severity.HIGH)]), make_policy(), NOW)
    assert d.verdict is Verdict.BLOCK
    weaker = signal(severity=Severity.MEDIUM, confidence=0.9)
    d = decide(tgt, snap(tgt, [weaker]), make_policy(), NOW)
    assert (d.threshold_approve, d.threshold_block) == (20, 40)
    assert d.verdict is Verdict.APPROVE
    assert (d.approvals_required, d.approval_group) == (2, "security")


def test_unknown_environment_is_a_clear_error() -> None:
    tgt = target(environment="prod")
    with pytest.raises(UnknownEnvironmentError, match=r"'prod' is not in the policy.*production"):
        decide(tgt, snap(tgt, []), make_policy(), NOW)


@pytest.mark.parametrize(
    ("health", "code", "verdict"),
    [
        (SourceHealth("edr", None, "HTTP 401", NOW), "stance:source_down", Verdict.BLOCK),
        (
            SourceHealth("edr", NOW - timedelta(days=2), "HTTP 503", NOW),
            "stance:source_down",
            Verdict.BLOCK,
        ),
        (
            SourceHealth("edr", NOW - timedelta(hours=1), "HTTP 503", NOW - timedelta(minutes=1)),
            "stance:source_down",
            Verdict.BLOCK,
        ),
        (SourceHealth("edr", NOW - timedelta(hours=1)), "stance:stale", Verdict.APPROVE),
    ],
)
def test_failure_stances_name_the_source_and_fire_per_environment(
    health: SourceHealth, code: str, verdict: Verdict
) -> None:
    tgt = target()
    d = decide(tgt, snap(tgt, [], sources=(health,)), make_policy(), NOW)
    assert d.verdict is verdict
    reason = next(r for r in d.reasons if r.code == code)
    assert "'edr'" in reason.message
    assert code.split(":")[1] in d.degraded
    dev = target(environment="development")
    d = decide(dev, snap(dev, [], sources=(health,)), make_policy(), NOW)
    assert d.verdict is Verdict.PROCEED
    assert all(r.verdict is Verdict.PROCEED for r in d.reasons)


def test_a_recent_failure_with_fresh_data_is_not_down() -> None:
    tgt = target()
    h = SourceHealth("edr", NOW - timedelta(minutes=2), "HTTP 503", NOW - timedelta(minutes=1))
    d = decide(tgt, snap(tgt, [], sources=(h,)), make_policy(), NOW)
    assert d.verdict is Verdict.PROCEED
    assert d.sources[0].state is Freshness.FRESH


def test_freshness_limit_is_per_source() -> None:
    tgt = target()
    h = SourceHealth("slow-feed", NOW - timedelta(hours=1))
    d = decide(tgt, snap(tgt, [], sources=(h,)), make_policy(), NOW)
    assert d.sources[0].state is Freshness.FRESH
    assert d.sources[0].limit_seconds == 7200


def test_no_sources_and_unknown_target_stances() -> None:
    tgt = target()
    d = decide(tgt, snap(tgt, [], sources=()), make_policy(), NOW)
    assert d.verdict is Verdict.BLOCK
    assert "stance:no_sources" in codes(d)
    unresolved = Exposure(
        tgt, (), "k8s", ((UnresolvedReason.TARGET_NOT_FOUND, "deployment/api not found"),)
    )
    d = decide(tgt, snap(tgt, [], exp=unresolved), make_policy(), NOW)
    assert d.verdict is Verdict.BLOCK
    assert any(
        "target not found" in r.message for r in d.reasons if r.code == "stance:unknown_target"
    )
    empty = Exposure(tgt, (), "k8s")
    d = decide(tgt, snap(tgt, [], exp=empty), make_policy(), NOW)
    assert "stance:unknown_target" in codes(d)


def exemption(
    tgt: Target,
    *,
    signal_uid: str | None = "edr:1",
    rule: str | None = None,
    expires_in: timedelta = timedelta(days=1),
) -> Exemption:
    return Exemption(
        id="EX-1",
        signal=signal_uid,
        rule=rule,
        environment=tgt.environment,
        cluster=tgt.cluster,
        namespace=tgt.namespace,
        workload=str(tgt.workload),
        expires=NOW + expires_in,
        reason="accepted risk",
        ticket="SEC-123",
        approver="alice",
    )


def test_an_exception_waives_its_finding_on_its_target_only_while_it_lives() -> None:
    tgt = target()
    s = signal(severity=Severity.CRITICAL)
    live = decide(tgt, snap(tgt, [s], exemptions=(exemption(tgt),)), make_policy(), NOW)
    assert live.verdict is Verdict.PROCEED
    assert live.waived == (("edr:1", "EX-1"),)
    assert any(r.waived_by == "EX-1" for r in live.reasons)
    expired = decide(
        tgt,
        snap(tgt, [s], exemptions=(exemption(tgt, expires_in=-timedelta(seconds=1)),)),
        make_policy(),
        NOW,
    )
    assert expired.verdict is Verdict.BLOCK
    other = target(workload="deployment/other")
    elsewhere = decide(other, snap(other, [s], exemptions=(exemption(tgt),)), make_policy(), NOW)
    assert elsewhere.verdict is Verdict.BLOCK


def test_an_exception_for_a_rule_waives_that_rule_but_not_the_score() -> None:
    tgt = target()
    s = signal(severity=Severity.CRITICAL)
    d = decide(
        tgt,
        snap(
            tgt,
            [s],
            exemptions=(exemption(tgt, signal_uid=None, rule="critical-detection-near-target"),),
        ),
        make_policy(),
        NOW,
    )
    assert "rule:critical-detection-near-target" not in codes(d)
    assert d.verdict is Verdict.BLOCK  # the score still blocks: the exception is scoped to the rule
    assert codes(d) == ["score"]


def test_a_stance_is_never_waived_by_an_exception() -> None:
    tgt = target()
    d = decide(
        tgt,
        snap(tgt, [], sources=(), exemptions=(exemption(tgt, signal_uid=None, rule="no_sources"),)),
        make_policy(),
        NOW,
    )
    assert d.verdict is Verdict.BLOCK


def test_suppressed_signals_contribute_nothing_and_are_listed() -> None:
    tgt = target()
    suppressions = [
        {
            "name": "ci-scanner-noise",
            "source": "edr",
            "title": "Suspicious*",
            "expires": "2027-01-01T00:00:00Z",
            "owner": "secops",
            "reason": "known scanner",
        }
    ]
    policy = make_policy(suppressions=suppressions)
    d = decide(tgt, snap(tgt, [signal(severity=Severity.CRITICAL)]), policy, NOW)
    assert d.verdict is Verdict.PROCEED
    assert d.suppressed == (("edr:1", "ci-scanner-noise"),)


def test_an_expired_suppression_no_longer_hides_a_signal() -> None:
    tgt = target()
    suppressions = [
        {
            "name": "old",
            "source": "edr",
            "expires": "2026-01-01T00:00:00Z",
            "owner": "x",
            "reason": "y",
        }
    ]
    d = decide(
        tgt,
        snap(tgt, [signal(severity=Severity.CRITICAL)]),
        make_policy(suppressions=suppressions),
        NOW,
    )
    assert d.verdict is Verdict.BLOCK


def test_a_rule_that_cannot_be_evaluated_fails_closed() -> None:
    tgt = target()
    rules = [
        {
            "name": "bad-field",
            "when": "signal.assets[7] == 'host:x'",
            "verdict": "block",
            "message": "x",
        }
    ]
    d = decide(tgt, snap(tgt, [signal(severity=Severity.LOW)]), make_policy(rules=rules), NOW)
    assert d.verdict is Verdict.BLOCK
    assert "could not be evaluated" in next(
        r.message for r in d.reasons if r.code == "rule:bad-field"
    )


def test_decision_scope_rule_sees_the_score_and_sources() -> None:
    tgt = target()
    rules = [
        {
            "name": "edr-must-be-fresh",
            "scope": "decision",
            "verdict": "approve",
            "message": "EDR data missing",
            "when": "!('edr' in sources) || sources['edr'].state != 'fresh'",
        }
    ]
    policy = make_policy(rules=rules)
    assert decide(tgt, snap(tgt, []), policy, NOW).verdict is Verdict.PROCEED
    d = decide(tgt, snap(tgt, [], sources=(fresh("other"),)), policy, NOW)
    assert d.verdict is Verdict.APPROVE


def test_identical_inputs_give_identical_bytes_and_replay_from_the_snapshot() -> None:
    tgt = target()
    signals = [
        signal("edr:1", severity=Severity.MEDIUM),
        signal("edr:2", severity=Severity.LOW, kind=SignalKind.VULNERABILITY),
    ]
    s = snap(tgt, signals)
    first = decide(tgt, s, make_policy(), NOW).to_json()
    assert decide(tgt, snap(tgt, list(reversed(signals))), make_policy(), NOW).to_json() == first
    replayed = snapshot_from_dict(s.to_dict())
    assert decide(replayed.target, replayed, make_policy(), NOW).to_json() == first


def test_the_policy_digest_changes_with_the_policy_text() -> None:
    tgt = target()
    a = decide(tgt, snap(tgt, []), make_policy(), NOW)
    b = decide(
        tgt, snap(tgt, []), make_policy(POLICY_YAML.replace("approve: 40", "approve: 41")), NOW
    )
    assert a.policy_digest != b.policy_digest
    assert a.id != b.id


def test_contributors_are_ordered_by_contribution_then_uid_whatever_the_matches_order() -> None:
    tgt = target()
    # Equal contributions under several uids, beside larger and smaller ones.
    signals = [
        signal("edr:c"),
        signal("edr:a"),
        signal("edr:big", severity=Severity.CRITICAL),
        signal("edr:b"),
        signal("edr:small", severity=Severity.LOW),
        signal("edr:aa"),
    ]
    s = snap(tgt, signals)
    expected = ["edr:big", "edr:a", "edr:aa", "edr:b", "edr:c", "edr:small"]
    for matches in (s.matches, s.matches[::-1], s.matches[2:] + s.matches[:2]):
        reordered = Snapshot(exposure=s.exposure, matches=matches, sources=s.sources)
        d = decide(tgt, reordered, make_policy(), NOW)
        assert [c.signal for c in d.contributors] == expected
        values = [c.contribution for c in d.contributors]
        assert values == sorted(values, reverse=True)
