"""A bad policy is rejected at load with every problem as file:line:col: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import POLICY_YAML
from clearance.errors import PolicyError
from clearance.policy.load import load_policy, load_policy_text

ROOT = Path(__file__).resolve().parents[2]


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as err:
        load_policy_text(text, "policy.yaml")
    return [str(p) for p in err.value.problems]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            count += 1
            if count == occurrence:
                return number
    raise AssertionError(needle)


def test_the_test_policy_and_the_example_load() -> None:
    assert load_policy_text(POLICY_YAML, "x").document.schema_version == 1
    assert load_policy(ROOT / "examples/policy.yaml").digest.startswith("sha256:")


def test_an_unknown_field_points_at_the_key_and_suggests_the_right_one() -> None:
    text = POLICY_YAML.replace("    thresholds: {approve: 40", "    tresholds: {approve: 40")
    (problem,) = [p for p in problems(text) if "tresholds" in p]
    assert problem.startswith(f"policy.yaml:{line_of(text, 'tresholds')}:5: ")
    assert "unknown field 'tresholds' in environments.production" in problem
    assert "did you mean 'thresholds'?" in problem


def test_a_missing_stance_says_there_is_no_default() -> None:
    text = POLICY_YAML.replace("unknown_target: block, ", "")
    (problem,) = problems(text)
    assert f"policy.yaml:{line_of(text, 'stances: {source_down: block')}:" in problem
    assert "missing failure stance 'unknown_target'" in problem
    assert "there is no default" in problem


def test_thresholds_out_of_order_point_at_the_thresholds() -> None:
    text = POLICY_YAML.replace("{approve: 40, block: 80}", "{approve: 80, block: 40}")
    (problem,) = problems(text)
    assert problem.startswith(f"policy.yaml:{line_of(text, 'approve: 80')}:")
    assert "must be below 'block'" in problem


def test_bad_cel_is_located_inside_the_expression() -> None:
    text = POLICY_YAML + (
        "  - name: broken\n"
        '    when: signal.severity >= && proximity == "host"\n'
        "    verdict: block\n"
        "    message: x\n"
    )
    (problem,) = problems(text)
    line = line_of(text, "signal.severity >= &&")
    column = text.splitlines()[line - 1].index("&&") + 1
    assert problem.startswith(f"policy.yaml:{line}:{column}: invalid CEL in rule 'broken'")


def test_bad_cel_in_a_folded_block_is_located_on_its_line() -> None:
    text = POLICY_YAML.replace(
        '&& proximity in ["direct", "host"]', '&& proximity in ["direct", "host"'
    )
    (problem,) = problems(text)
    assert problem.startswith(f"policy.yaml:{line_of(text, '&& proximity in')}:")


def test_every_problem_is_reported_at_once() -> None:
    text = (
        POLICY_YAML.replace("sensitivity: 2", "sensitivity: -1")
        .replace("default: 15m", "default: 15")
        .replace("fatal: 1.0", "fatal: 1.0, catastrophic: 1.0")
    )
    found = problems(text)
    assert len(found) >= 3
    assert any("sensitivity" in p for p in found)
    assert any("must be a number with a unit" in p for p in found)
    assert any("catastrophic" in p for p in found)


def test_duplicate_keys_are_not_silently_dropped() -> None:
    text = POLICY_YAML.replace("    sensitivity: 2\n", "    sensitivity: 2\n    sensitivity: 3\n")
    (problem,) = problems(text)
    assert problem.startswith(
        f"policy.yaml:{line_of(text, 'sensitivity: 3')}:5: duplicate key 'sensitivity'"
    )


def test_rules_and_exceptions_must_name_known_environments() -> None:
    text = POLICY_YAML.replace("environments: [production]", "environments: [prod]")
    (problem,) = problems(text)
    assert "unknown environment 'prod'" in problem


def test_yaml_syntax_errors_keep_their_position() -> None:
    (problem,) = problems("schema_version: 1\nenvironments: {a: [1, 2}\n")
    assert problem.startswith("policy.yaml:2:")
    assert "not valid YAML" in problem


def test_a_wrong_schema_version_and_a_non_mapping_are_refused() -> None:
    assert any(
        "schema_version must be 1" in p
        for p in problems(POLICY_YAML.replace("schema_version: 1", "schema_version: 2"))
    )
    assert "a policy is a mapping" in problems("- just\n- a list\n")[0]


def test_non_monotone_weights_are_refused() -> None:
    text = POLICY_YAML.replace("high: 0.6", "high: 0.2")
    (problem,) = problems(text)
    assert "severity_weights.high (0.2) must not be below severity_weights.medium (0.3)" in problem


KINDS = """\
  kinds:
    vulnerability:
      severity_weights: {unknown: 0.02, informational: 0.0, low: 0.02, medium: 0.05,
                         high: 0.15, critical: 0.3, fatal: 0.3}
      cap: 0.35
"""


def _with_kinds(kinds: str) -> str:
    return POLICY_YAML.replace("  proximity_weights:", kinds + "  proximity_weights:", 1)


def test_a_kinds_table_loads_and_weighs_only_its_kind() -> None:
    from clearance.model.signal import Severity, SignalKind

    policy = load_policy_text(_with_kinds(KINDS), "policy.yaml")
    assert policy.weights.severity[SignalKind.VULNERABILITY][Severity.HIGH] == 0.15
    assert policy.weights.severity[SignalKind.DETECTION][Severity.HIGH] == 0.6
    assert policy.weights.caps == {SignalKind.VULNERABILITY: 0.35}
    assert policy.weights.by_kind


def test_a_non_monotone_kind_table_is_refused_naming_the_kind() -> None:
    (problem,) = problems(_with_kinds(KINDS.replace("high: 0.15", "high: 0.01")))
    assert (
        "kinds.vulnerability.severity_weights.high (0.01) must not be below "
        "kinds.vulnerability.severity_weights.medium (0.05)" in problem
    )


def test_an_unknown_kind_and_a_cap_above_one_are_refused() -> None:
    assert any("vulnerabilty" in p for p in problems(_with_kinds(KINDS.replace(
        "vulnerability:", "vulnerabilty:"))))  # fmt: skip
    assert any("cap" in p for p in problems(_with_kinds(KINDS.replace("0.35", "1.5"))))
