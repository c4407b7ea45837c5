"""Reports about the change in the pure decision: ruled by the example policy, the
``missing_evidence`` stance where an environment requires a report, and replay byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from clearance.engine import decide
from clearance.model.assets import parse_asset
from clearance.model.canonical import canonical_json
from clearance.model.decision import Verdict
from clearance.model.reports import Report
from clearance.model.snapshot import Snapshot, snapshot_from_dict
from clearance.model.target import ExposedAsset, Exposure, Proximity, SourceHealth, Target
from clearance.policy.compiled import Policy
from clearance.policy.schema import PolicyDocument
from clearance.sources.reports import read_report
from clearance.validation import SchemaError, validate

ROOT = Path(__file__).parents[2]
REPORTS = ROOT / "tests" / "fixtures" / "reports"
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
TARGET = Target.of("production", "prod-eu", "shop", "deployment/checkout")


def _policy(**production: Any) -> Policy:
    data = yaml.safe_load((ROOT / "examples" / "policy.yaml").read_text())
    data["environments"]["production"].update(production)
    return Policy.build(validate(data, PolicyDocument), yaml.safe_dump(data).encode(), "<t>")


def _report(fmt: str, name: str) -> Report:
    return read_report(fmt, name, (REPORTS / name).read_bytes())


def _snapshot(*reports: Report) -> Snapshot:
    workload = ExposedAsset(
        Proximity.DIRECT, parse_asset("workload:prod-eu/shop/deployment/checkout")
    )
    return Snapshot(
        exposure=Exposure(TARGET, (workload,), "test"),
        matches=(),
        sources=(SourceHealth("edr", NOW),),
        reports=reports,
    )


def test_a_required_report_that_is_missing_gets_its_own_stance() -> None:
    policy = _policy(evidence={"required": ["junit", "sarif"]})
    decision = decide(TARGET, _snapshot(_report("sarif", "codeql.valid-sarif.sarif")), policy, NOW)
    assert decision.verdict is Verdict.APPROVE
    assert decision.degraded == ("missing_evidence",)
    (reason,) = [r for r in decision.reasons if r.code == "stance:missing_evidence"]
    assert reason.message == (
        "No junit report came with this deploy (test results); production requires one; the "
        "production stance for missing_evidence requires approval."
    )
    given = _snapshot(
        _report("junit", "pytest-junit.passing.xml"), _report("sarif", "codeql.valid-sarif.sarif")
    )
    assert decide(TARGET, given, policy, NOW).verdict is Verdict.PROCEED


def test_the_shipped_policy_requires_no_report() -> None:
    # The admission webhook's decisions never bring reports (examples/policy.yaml says why).
    assert decide(TARGET, _snapshot(), _policy(), NOW).verdict is Verdict.PROCEED


def test_requiring_a_report_without_a_stance_is_refused() -> None:
    data = yaml.safe_load((ROOT / "examples" / "policy.yaml").read_text())
    data["environments"]["production"]["evidence"] = {"required": ["junit"]}
    del data["environments"]["production"]["stances"]["missing_evidence"]
    with pytest.raises(SchemaError, match=r"stances\.missing_evidence is required"):
        validate(data, PolicyDocument)


def test_a_failing_test_blocks_and_is_named_and_the_decision_replays() -> None:
    snapshot = _snapshot(
        _report("junit", "TEST-org.apache.maven.surefire.test.FailingTest.xml"),
        _report("sarif", "semgrep.docs-example.sarif"),
    )
    policy = _policy()
    decision = decide(TARGET, snapshot, policy, NOW)
    assert decision.verdict is Verdict.BLOCK
    named = [r.message for r in decision.reasons if r.code == "rule:failing-tests"]
    assert len(named) == 2
    assert "FailingTest.setTestAndRetrieveValue failed" in " ".join(named)
    assert any(r.code == "rule:new-high-code-scanning-result" for r in decision.reasons)
    # Recorded as JSON and read back, the snapshot decides the same bytes.
    again = snapshot_from_dict(yaml.safe_load(canonical_json(snapshot.to_dict())))
    assert canonical_json(decide(TARGET, again, policy, NOW).to_dict()) == canonical_json(
        decision.to_dict()
    )


def test_reports_change_the_inputs_digest_and_none_keep_the_old_one() -> None:
    policy = _policy()
    bare = decide(TARGET, _snapshot(), policy, NOW)
    passing = decide(TARGET, _snapshot(_report("junit", "pytest-junit.passing.xml")), policy, NOW)
    assert bare.inputs_digest != passing.inputs_digest
    assert "reports" not in _snapshot().to_dict()


def test_an_exception_for_a_known_failing_test_lets_it_through() -> None:
    from clearance.model.exemptions import Exemption

    snapshot = _snapshot(_report("junit", "pytest-junit.failing.xml"))
    waive = [
        Exemption(
            id=f"EX-{i}",
            signal=None,
            rule=rule,
            environment="production",
            cluster="prod-eu",
            namespace="shop",
            workload="deployment/checkout",
            expires=datetime(2026, 12, 1, tzinfo=UTC),
            reason="known flaky, fixed in the next release",
            ticket="QA-1",
            approver="qa-lead@example.com",
        )
        for i, rule in enumerate(
            ["test_cart.test_discount_applies_once", "test_cart.test_checkout_calls_payment"]
        )
    ]
    decision = decide(
        TARGET, msgspec.structs.replace(snapshot, exemptions=tuple(waive)), _policy(), NOW
    )
    assert decision.verdict is Verdict.PROCEED
    assert len(decision.waived) == 2
