"""Every kind of policy problem is reported as file:line:col: message, at the right place."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearance.errors import PolicyError
from clearance.policy.load import load_policy, load_policy_text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "policies"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "policy.yaml"
MINIMAL = (FIXTURES / "minimal.yaml").read_text()


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as err:
        load_policy_text(text, "policy.yaml")
    assert err.value.problems, "a PolicyError must carry at least one problem"
    return [str(p) for p in err.value.problems]


def at(text: str, needle: str, occurrence: int = 1) -> str:
    """``policy.yaml:LINE:COL:`` of the n-th occurrence of ``needle`` in ``text``."""
    start = -1
    for _ in range(occurrence):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    return f"policy.yaml:{line}:{column}:"


def test_the_example_and_the_fixture_load() -> None:
    policy = load_policy(EXAMPLE)
    assert set(policy.document.environments) == {
        "production",
        "regulated",
        "staging",
        "development",
    }
    assert policy.digest.startswith("sha256:")
    assert len(policy.digest) == len("sha256:") + 64
    assert len(load_policy_text(MINIMAL, "m").rules) == 4


def test_unknown_field_points_at_the_key_and_suggests() -> None:
    text = MINIMAL.replace("    thresholds:", "    tresholds:")
    found = problems(text)
    assert (
        f"{at(text, 'tresholds')} unknown field 'tresholds' in environments.production; "
        "did you mean 'thresholds'?"
    ) in found


def test_unknown_field_without_a_close_match_has_no_suggestion() -> None:
    text = MINIMAL.replace("schema_version: 1\n", "schema_version: 1\nzzz: 1\n")
    assert problems(text) == [f"{at(text, 'zzz')} unknown field 'zzz'"]


def test_a_typo_is_reported_once_not_also_as_the_missing_field() -> None:
    text = MINIMAL.replace("      stale: approve", "      stael: approve")
    (problem,) = problems(text)
    assert "unknown field 'stael'" in problem
    assert "did you mean 'stale'?" in problem


def test_unknown_weight_key_suggests_the_allowed_one() -> None:
    text = MINIMAL.replace("fatal: 1.0", "fatl: 1.0")
    (problem,) = problems(text)
    assert problem.startswith(
        f"{at(text, 'fatl')} unknown field 'fatl' in scoring.severity_weights"
    )
    assert "did you mean 'fatal'?" in problem


def test_wrong_type_points_at_the_value_and_shows_it() -> None:
    text = MINIMAL.replace("required: 2", "required: two")
    (problem,) = problems(text)
    assert problem.startswith(f"{at(text, 'two')} environments.production.approvals.required:")
    assert "integer" in problem
    assert "(got 'two')" in problem


def test_bad_enum_value_suggests_the_closest() -> None:
    text = MINIMAL.replace(
        "verdict: block\n    message: plain", "verdict: blok\n    message: plain"
    )
    (problem,) = problems(text)
    assert problem.startswith(f"{at(text, 'blok')} rules[0].verdict:")
    assert "did you mean 'block'?" in problem


def test_missing_stance_names_the_class_and_says_there_is_no_default() -> None:
    text = MINIMAL.replace("      stale: approve\n", "")
    (problem,) = problems(text)
    # The stances mapping lacks it: point at that mapping (its first key).
    assert problem.startswith(f"{at(text, 'source_down')} missing failure stance 'stale'")
    assert "environments.production.stances" in problem
    assert "there is no default" in problem


def test_missing_field_points_at_the_mapping_that_lacks_it() -> None:
    text = MINIMAL.replace("    sensitivity: 1\n", "")
    assert problems(text) == [
        f"{at(text, 'thresholds')} missing field 'sensitivity' in environments.production; "
        "add it (docs/policy.md lists every field)"
    ]


def test_thresholds_out_of_order() -> None:
    text = MINIMAL.replace("{approve: 40, block: 80}", "{approve: 80, block: 40}")
    (problem,) = problems(text)
    assert problem.startswith(f"{at(text, '{approve: 80')} environments.production.thresholds:")
    assert "threshold 'approve' (80) must be below 'block' (40)" in problem


@pytest.mark.parametrize("bad", ["15", "15 minutes", "0m", "-5m", "1w"])
def test_bad_durations_say_which_units_work(bad: str) -> None:
    text = MINIMAL.replace("default: 15m", f"default: {bad}")
    (problem,) = problems(text)
    assert problem.startswith(f"{at(text, bad + '}')} environments.production.freshness.default:")
    assert "s, m, h or d" in problem or "positive" in problem


def test_unknown_environment_in_a_rule_points_at_the_name() -> None:
    text = MINIMAL.replace("environments: [production]", "environments: [prod]")
    assert problems(text) == [
        f"{at(text, 'prod]')} rules[2].environments[0]: rule 'folded' names unknown "
        "environment 'prod'; known: production"
    ]


EXCEPTION = """exceptions:
  - id: EX-1
    finding: {rule: plain}
    target: {environment: prd, cluster: c, namespace: n, workload: deployment/a}
    expires: 2099-01-01T00:00:00Z
    reason: sample
    ticket: SEC-1
    approver: alice@example.com
"""


def test_unknown_environment_in_an_exception_target() -> None:
    text = MINIMAL + EXCEPTION
    (problem,) = problems(text)
    assert problem.startswith(f"{at(text, 'prd')} exceptions[0].target.environment:")
    assert "unknown environment 'prd'; known: production" in problem


SUPPRESSION = """suppressions:
  - name: noise
    asset: "{asset}"
    expires: 2099-01-01T00:00:00Z
    owner: platform
    reason: sample
"""


@pytest.mark.parametrize("asset", ["hots:web-*", "web-*"])
def test_suppression_asset_needs_a_known_kind(asset: str) -> None:
    text = MINIMAL + SUPPRESSION.format(asset=asset)
    (problem,) = problems(text)
    assert problem.startswith(f"{at(text, chr(34) + asset)} suppressions[0].asset:")
    assert "kind one of host, instance" in problem


def test_a_valid_suppression_asset_loads() -> None:
    policy = load_policy_text(MINIMAL + SUPPRESSION.format(asset="host:web-*"), "p")
    assert policy.digest.startswith("sha256:")


def test_duplicate_rule_names_point_at_the_second() -> None:
    text = MINIMAL.replace("name: quoted", "name: plain")
    (problem,) = problems(text)
    second = at(text, "plain\n    when: 'signal")
    assert problem.startswith(f"{second} duplicate rule name 'plain' (rules[0] has it too)")


def test_duplicate_yaml_keys_are_not_silently_dropped() -> None:
    text = MINIMAL.replace("    sensitivity: 1\n", "    sensitivity: 1\n    sensitivity: 3\n")
    assert problems(text) == [
        f"{at(text, 'sensitivity: 3')} duplicate key 'sensitivity' (first on line 5): "
        "the later value would silently win; keep one"
    ]


def test_duplicate_environments_are_reported() -> None:
    text = MINIMAL.replace("scoring:\n", "  production: {}\nscoring:\n")
    assert any(
        p.startswith(f"{at(text, 'production', 2)} duplicate key 'production'")
        for p in problems(text)
    )


def test_yaml_syntax_error_keeps_its_mark() -> None:
    text = MINIMAL.replace("{approve: 40, block: 80}", "{approve: 40, block: 80")
    (problem,) = problems(text)
    assert problem.startswith("policy.yaml:7:")
    assert "not valid YAML" in problem


def test_yaml_error_at_end_of_stream_stays_within_the_file() -> None:
    text = MINIMAL + "  - name: [unclosed\n"
    (problem,) = problems(text)
    line = int(problem.split(":")[1])
    assert 1 <= line <= len(text.splitlines())


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_a_document_that_is_not_a_mapping(text: str) -> None:
    (problem,) = problems(text)
    assert problem.startswith("policy.yaml:1:1: a policy is a mapping")


def test_an_empty_document() -> None:
    assert problems("# only a comment\n") == [
        "policy.yaml:1:1: the policy is empty; start from examples/policy.yaml"
    ]


@pytest.mark.parametrize("version", ["2", "'1'", "true", "1.5"])
def test_unsupported_schema_version(version: str) -> None:
    text = MINIMAL.replace("schema_version: 1", f"schema_version: {version}")
    (problem,) = problems(text)
    assert problem.startswith("policy.yaml:2:17: unsupported schema_version")
    assert "must be 1" in problem


def test_missing_schema_version_says_what_to_add() -> None:
    (problem,) = problems(MINIMAL.replace("schema_version: 1\n", ""))
    assert "missing field 'schema_version': add `schema_version: 1`" in problem


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(FIXTURES / "many_problems.yaml")
    name = str(FIXTURES / "many_problems.yaml")
    got = [(p.file, p.line, p.column, p.message.split(":")[0]) for p in err.value.problems]
    assert [g[:3] for g in got] == [
        (name, 6, 5),  # unknown field 'tresholds'
        (name, 7, 26),  # bad duration
        (name, 9, 14),  # missing stance unknown_target
        (name, 16, 30),  # bad CEL, at the '&&'
        (name, 19, 11),  # duplicate rule name
        (name, 23, 20),  # unknown environment
    ]
    messages = [str(p) for p in err.value.problems]
    assert "did you mean 'thresholds'?" in messages[0]  # and not also "missing thresholds"
    assert "missing failure stance 'unknown_target'" in messages[2]
    assert "invalid CEL in rule 'bad-cel'" in messages[3]


def test_an_unreadable_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(tmp_path / "nope.yaml")
    # The file as a whole: named, with no made-up line and column.
    assert str(err.value).startswith(f"{tmp_path / 'nope.yaml'}: cannot read the policy")


def test_the_examples_commented_samples_are_valid_when_uncommented() -> None:
    text = EXAMPLE.read_text()
    lines = text.splitlines()
    out = []
    for line in lines:
        if line in ("suppressions: []", "exceptions: []", "freezes: []"):
            out.append(line.removesuffix(" []"))
        elif line.startswith(("  # - ", "  #   ")):
            out.append("  " + line.removeprefix("  # "))
        else:
            out.append(line)
    policy = load_policy_text("\n".join(out) + "\n", "uncommented")
    assert [s.name for s in policy.document.suppressions] == ["ci-runner-shell-spawns"]
    assert [e.id for e in policy.exemptions] == ["EX-SAMPLE-001"]
    assert [f.name for f in policy.document.freezes] == ["weekend"]
