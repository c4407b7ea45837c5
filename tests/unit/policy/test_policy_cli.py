"""``clearance policy validate`` and ``policy test`` as a user runs them: a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "policy.yaml"


def clearance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clearance", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_validate_the_example() -> None:
    result = clearance("policy", "validate", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok: {EXAMPLE} (sha256:")
    assert "4 environments, 10 rules, 0 suppressions, 0 exceptions" in result.stdout


def test_validate_prints_every_problem_on_stderr_and_exits_3() -> None:
    bad = ROOT / "tests" / "fixtures" / "policies" / "many_problems.yaml"
    result = clearance("policy", "validate", str(bad))
    assert result.returncode == 3
    assert result.stdout == ""
    located = [line for line in result.stderr.splitlines() if line.startswith(f"{bad}:")]
    assert len(located) == 6, result.stderr


def test_the_example_policy_tests_pass_one_line_per_case() -> None:
    result = clearance("policy", "test", str(ROOT / "examples" / "policy-tests"))
    assert result.returncode == 0, result.stdout
    cases = [line for line in result.stdout.splitlines() if line.startswith("PASS ")]
    assert len(cases) >= 12
    assert result.stdout.splitlines()[-1] == f"{len(cases)} passed, 0 failed"


def test_a_failing_case_exits_1(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(EXAMPLE.read_text())
    (tmp_path / "x_test.yaml").write_text(
        "policy: policy.yaml\nnow: 2026-11-28T12:00:00Z\ncases:\n"
        "  - name: wrong\n"
        "    target: {environment: staging, cluster: c, namespace: n, workload: deployment/a}\n"
        "    exposure: {}\n"
        "    expect: {verdict: proceed}\n"
    )
    result = clearance("policy", "test", str(tmp_path))
    assert result.returncode == 1
    assert "FAIL x_test.yaml: wrong\n     verdict approve, expected proceed" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 passed, 1 failed"


def test_a_bad_policy_under_test_exits_3(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(
        EXAMPLE.read_text().replace("stale: approve ", "stale: later ")
    )
    (tmp_path / "x_test.yaml").write_text(
        "policy: policy.yaml\nnow: 2026-11-28T12:00:00Z\ncases:\n"
        "  - name: any\n"
        "    target: {environment: staging, cluster: c, namespace: n, workload: deployment/a}\n"
        "    exposure: {}\n    expect: {verdict: proceed}\n"
    )
    result = clearance("policy", "test", str(tmp_path))
    assert result.returncode == 3
    assert f"{tmp_path / 'policy.yaml'}:" in result.stderr
    assert "environments.production.stances.stale" in result.stderr


def test_a_malformed_test_file_exits_2_with_a_tip(tmp_path: Path) -> None:
    (tmp_path / "x_test.yaml").write_text("policy: policy.yaml\ncases: []\n")
    result = clearance("policy", "test", str(tmp_path))
    assert result.returncode == 2
    assert "cases: List should have at least 1 item" in result.stderr
    assert "Tip: docs/policy.md" in result.stderr
