"""`clearance policy validate` and `clearance policy test` through a real subprocess."""

from __future__ import annotations

from pathlib import Path

from cli_fleet import Run

ROOT = Path(__file__).resolve().parents[2]


def test_validate_accepts_the_example_and_prints_its_digest(clearance: Run) -> None:
    result = clearance("policy", "validate", str(ROOT / "examples/policy.yaml"))
    assert result.code == 0, result.err
    assert result.out.startswith(f"ok: {ROOT / 'examples/policy.yaml'} (sha256:")


def test_validate_lists_every_problem_and_exits_3(clearance: Run, tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(
        (ROOT / "examples/policy.yaml")
        .read_text()
        .replace("stale: approve           #", "#")
        .replace("sensitivity: 1.5", "sensitivity: high")
    )
    result = clearance("policy", "validate", str(bad))
    assert result.code == 3
    assert f"{bad}:" in result.err
    assert "missing failure stance 'stale'" in result.err
    assert "sensitivity" in result.err


def test_the_example_policy_tests_pass(clearance: Run) -> None:
    result = clearance("policy", "test", str(ROOT / "examples/policy-tests"))
    assert result.code == 0, result.out
    assert "0 failed" in result.out


def test_a_failing_case_is_named_with_why_and_exits_1(clearance: Run, tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text((ROOT / "examples/policy.yaml").read_text())
    (tmp_path / "pin_test.yaml").write_text(
        "policy: policy.yaml\nnow: 2026-11-28T12:00:00Z\ncases:\n"
        "  - name: expects the wrong verdict\n"
        "    target: {environment: production, cluster: c, namespace: n, workload: deployment/a}\n"
        "    exposure: {host: [host:node-1]}\n"
        "    expect: {verdict: block, reasons: [stance:stale]}\n"
    )
    result = clearance("policy", "test", str(tmp_path))
    assert result.code == 1
    assert "FAIL pin_test.yaml: expects the wrong verdict" in result.out
    assert "verdict proceed, expected block" in result.out
    assert "reason stance:stale did not fire" in result.out


# Observation 11: a 478-byte alias bomb (10^9 nodes once expanded) and a 100,000-deep document.
BOMB = "schema_version: 1\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
    for p, c in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def test_an_alias_bomb_is_refused_at_load_with_its_line(clearance: Run, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    assert len(BOMB.encode()) < 500
    result = clearance("policy", "validate", str(bomb))
    assert result.code == 3
    assert f"{bomb}:8:" in result.err  # the line whose aliases take it past the bound
    assert "aliases expand the document past" in result.err


def test_a_deep_document_is_refused_not_a_recursion_error(clearance: Run, tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = clearance("policy", "validate", str(deep))
    assert result.code == 3
    assert "nested deeper than" in result.err
    assert "RecursionError" not in result.err


def test_freeze_windows_across_both_dst_changes_in_policy_test(clearance: Run) -> None:
    """tests/fixtures/freeze: each case sets its own `now` on either side of a window edge."""
    result = clearance("policy", "test", str(ROOT / "tests/fixtures/freeze"))
    assert result.code == 0, result.out
    assert "5 passed, 0 failed" in result.out
