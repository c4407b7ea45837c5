from __future__ import annotations

import pytest

from clearance.errors import RuleCompileError
from clearance.model import Verdict
from clearance.policy.rules import compile_rule
from clearance.policy.schema import Rule
from clearance.validation import validate


def rule(when: str, scope: str = "signal") -> Rule:
    return validate(
        {"name": "r", "scope": scope, "when": when, "verdict": "block", "message": "m"}, Rule
    )


def test_a_syntax_error_carries_its_position_inside_the_expression() -> None:
    with pytest.raises(RuleCompileError) as err:
        compile_rule(rule("signal.severity >= "))
    assert (err.value.line, err.value.column) == (1, 20)
    assert "invalid CEL" in str(err.value)


def test_unknown_variables_and_signal_fields_are_refused_at_load() -> None:
    with pytest.raises(RuleCompileError, match=r"unknown variable.*score"):
        compile_rule(rule("score > 50"))
    with pytest.raises(RuleCompileError, match=r"unknown signal field.*sevrity"):
        compile_rule(rule("signal.sevrity > 3"))


def test_only_the_fields_read_are_recorded_unless_signal_is_used_whole() -> None:
    compiled = compile_rule(rule("signal.kind == 'x' && signal.severity > 2"))
    assert compiled.signal_fields == frozenset({"kind", "severity"})
    assert compile_rule(rule("has(signal.url) || size(signal) > 3")).signal_fields is None


def test_a_rule_that_evaluates_to_a_non_boolean_cannot_fire_silently() -> None:
    compiled = compile_rule(rule("signal.severity"))
    with pytest.raises(ValueError, match="not a boolean"):
        compiled.fires({"signal": {"severity": 3}})
    assert compile_rule(rule("signal.severity > 2")).rule.verdict is Verdict.BLOCK


def test_variables_bound_by_macros_are_not_unknown_variables() -> None:
    compiled = compile_rule(rule('signal.techniques.exists(t, t.startsWith("T1486"))'))
    assert compiled.fires({"signal": {"techniques": ["T1486.001"]}})
    decision = compile_rule(rule("signals.exists(s, s.severity >= 5) && score > 1", "decision"))
    assert decision.variables == frozenset({"signals", "score"})
    with pytest.raises(RuleCompileError, match="unknown variable"):
        compile_rule(rule("signal.techniques.exists(t, t == x)"))
