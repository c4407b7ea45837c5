"""`clearance check --evidence` through a real subprocess, under the example policy: a failing
JUnit test blocks production and is named, a new high SARIF result needs approval, a missing
report gets the stance an environment that requires one states, and a bad report stops the check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_fleet import Fleet, Run, target

ROOT = Path(__file__).parents[2]
REPORTS = ROOT / "tests" / "fixtures" / "reports"


@pytest.fixture
def example_policy(fleet: Fleet) -> Fleet:
    """The fleet under the shipped policy, with production requiring a test report."""
    policy = yaml.safe_load((ROOT / "examples" / "policy.yaml").read_text())
    policy["environments"]["production"]["evidence"] = {"required": ["junit"]}
    (fleet.root / "policy.yaml").write_text(yaml.safe_dump(policy))
    return fleet


def _evidence(*reports: str) -> list[str]:
    return [
        arg
        for r in reports
        for arg in ("--evidence", f"{r.split(':')[0]}:{REPORTS / r.split(':')[1]}")
    ]


@pytest.mark.usefixtures("example_policy")
def test_a_failing_test_blocks_production_and_the_reason_names_it(clearance: Run) -> None:
    run = clearance(
        "check", *target("deployment/clean"), *_evidence("junit:pytest-junit.failing.xml")
    )
    assert run.code == 20, run.err
    assert "rule:failing-tests" in run.out
    assert (
        "Test test_cart.test_discount_applies_once failed: AssertionError: discount applied twice"
        in run.out
    )
    assert "pytest-junit.failing.xml (pytest): 4 test(s), 2 failed" in run.out


@pytest.mark.usefixtures("example_policy")
def test_a_new_high_code_scanning_result_needs_approval(clearance: Run) -> None:
    run = clearance(
        "check",
        *target("deployment/clean"),
        *_evidence("junit:pytest-junit.passing.xml", "sarif:semgrep.docs-example.sarif"),
        "--format",
        "json",
    )
    assert run.code == 10, run.err
    decision = json.loads(run.out)
    (reason,) = [
        r for r in decision["reasons"] if r["code"] == "rule:new-high-code-scanning-result"
    ]
    assert "dockerfile.security.missing-user.missing-user at Dockerfile:39" in reason["message"]


@pytest.mark.usefixtures("example_policy")
def test_no_report_gets_the_missing_evidence_stance_and_a_passing_one_proceeds(
    clearance: Run,
) -> None:
    missing = clearance("check", *target("deployment/clean"))
    assert missing.code == 10, missing.err
    assert "No junit report came with this deploy" in missing.out
    assert "stance:missing_evidence" in missing.out
    passing = clearance(
        "check", *target("deployment/clean"), *_evidence("junit:pytest-junit.passing.xml")
    )
    assert passing.code == 0, passing.err


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("junit", "write FORMAT:FILE"),
        ("junit:/nonexistent/report.xml", "cannot read /nonexistent/report.xml"),
        (f"xml:{REPORTS / 'pytest-junit.passing.xml'}", "unknown report format 'xml'"),
        (f"junit:{REPORTS / 'semgrep.docs-example.sarif'}", "not a JUnit XML report"),
    ],
)
def test_a_report_that_cannot_be_read_stops_the_check_with_exit_2(
    clearance: Run, given: str, problem: str
) -> None:
    run = clearance("check", *target("deployment/clean"), "--evidence", given)
    assert run.code == 2
    assert problem in run.err
    assert run.out == ""
