"""Policy test files: cases build a target and snapshot, run the engine, and report why a case
fails; a malformed file is refused with every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearance.errors import CaseFileError
from clearance.policytest import discover, run_file

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "policy.yaml"
TARGET = (
    "{environment: production, cluster: prod-eu, namespace: shop, workload: deployment/checkout}"
)
CRITICAL = (
    '{uid: "edr:1", source: edr, kind: detection, title: Credential dumping, severity: 5,'
    " confidence: 0.9, age: 10m, assets: [host:node-1]}"
)


def write(tmp_path: Path, cases: str, name: str = "pin_test.yaml") -> Path:
    (tmp_path / "policy.yaml").write_text(EXAMPLE.read_text())
    path = tmp_path / name
    path.write_text(f"policy: policy.yaml\nnow: 2026-11-28T12:00:00Z\ncases:\n{cases}")
    return path


def case(
    name: str, expect: str, signals: str = "[]", exposure: str = "{host: [host:node-1]}"
) -> str:
    return (
        f"  - name: {name}\n    target: {TARGET}\n    exposure: {exposure}\n"
        f"    signals: {signals}\n    expect: {expect}\n"
    )


def test_a_matching_case_passes_and_a_wrong_one_says_why(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        case(
            "blocks",
            "{verdict: block, reasons: [rule:critical-detection-near-target]}",
            f"[{CRITICAL}]",
        )
        + case(
            "wrong", "{verdict: proceed, reasons: [stance:stale], score_below: 1}", f"[{CRITICAL}]"
        ),
    )
    good, bad = run_file(path)
    assert good.passed
    assert not bad.passed
    assert bad.failures[0].startswith("verdict block, expected proceed (score ")
    assert "rule:critical-detection-near-target=block" in bad.failures[0]
    assert "reason stance:stale did not fire" in bad.failures
    assert any(f.startswith("score ") and "≥ 1" in f for f in bad.failures)


def test_reasons_match_a_message_substring_and_absent_is_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        case(
            "by message", "{verdict: block, reasons: [Active critical detection]}", f"[{CRITICAL}]"
        )
        + case(
            "absent",
            "{verdict: block, absent: [rule:critical-detection-near-target]}",
            f"[{CRITICAL}]",
        ),
    )
    by_message, absent = run_file(path)
    assert by_message.passed, by_message.failures
    assert absent.failures == ("reason rule:critical-detection-near-target fired",)


def test_the_signal_must_touch_the_exposure_to_count(tmp_path: Path) -> None:
    # The same detection on a node the workload does not run on: nothing correlates.
    path = write(
        tmp_path,
        case(
            "elsewhere",
            "{verdict: proceed, score_below: 1}",
            f"[{CRITICAL}]",
            "{host: [host:node-2]}",
        ),
    )
    (outcome,) = run_file(path)
    assert outcome.passed, outcome.failures


def test_sources_given_explicitly_drive_the_stances(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  - name: down\n"
        f"    target: {TARGET}\n    exposure: {{host: [host:node-1]}}\n"
        "    sources: [{name: edr, last_success: null, last_error: HTTP 401}]\n"
        "    expect: {verdict: block, reasons: [stance:source_down]}\n",
    )
    (outcome,) = run_file(path)
    assert outcome.passed, outcome.failures


def test_a_bad_signal_fails_its_case_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        case("bad signal", "{verdict: block}", "[{uid: x, severity: 99}]")
        + case("fine", "{verdict: proceed}"),
    )
    bad, fine = run_file(path)
    assert bad.failures[0].startswith("could not decide:")
    assert fine.passed


def test_an_unknown_environment_fails_the_case_with_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, case("env", "{verdict: block}").replace("production", "prod"))
    (outcome,) = run_file(path)
    assert "environment 'prod' is not in the policy" in outcome.failures[0]


def test_a_malformed_test_file_lists_every_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  - name: x\n    target: {environment: production}\n    exposure: {near: []}\n"
        "    expect: {verdict: maybe}\n",
    )
    with pytest.raises(CaseFileError) as err:
        run_file(path)
    message = str(err.value)
    assert f"{path}: cases[0].target.cluster: Field required" in message
    assert "cases[0].exposure.near" in message
    assert "cases[0].expect.verdict" in message


def test_discover_finds_test_files_and_refuses_an_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(CaseFileError, match=r"no \*_test\.yaml files"):
        discover(tmp_path)
    path = write(tmp_path, case("x", "{verdict: proceed}"), name="a_test.yaml")
    (tmp_path / "notes.yaml").write_text("not a test\n")
    assert discover(tmp_path) == [path]
    assert discover(path) == [path]
