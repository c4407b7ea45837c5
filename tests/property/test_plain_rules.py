"""A plain rule (policy/plain.py) decides exactly as CEL does, on any signal.

Expressions are generated from the plain grammar (typed fields against literals of the types
CEL and Python compare alike, in ``&&``, ``||``, ``!`` and parentheses), evaluated both ways on
generated variables, and must agree. Shapes outside the grammar must be left to CEL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.engine import _SIGNAL_VIEW
from clearance.model import Severity, Signal, SignalKind, SignalStatus, SignalUid, parse_asset
from clearance.policy.plain import (
    _DIRECT_BUILTINS,
    _SIGNAL_CODE,
    _SIGNAL_TYPES,
    plain,
    signal_rule,
)
from clearance.policy.rules import cel

WORDS = ["detection", "host", "direct", "prod", "a", "", "é", "Detection", "x y"]
STRING_FIELDS = [
    "signal.uid", "signal.source", "signal.kind", "signal.title", "signal.rule",
    "signal.severity_label", "signal.status", "signal.change", "proximity", "environment",
    "target.environment", "target.cluster", "target.namespace", "target.workload",
]  # fmt: skip
INT_FIELDS = ["signal.severity", "signal.age_seconds", "signal.count"]
DOUBLE_FIELDS = ["signal.confidence", "signal.epss", "signal.epss_percentile"]
BOOL_FIELDS = ["signal.tracked", "signal.fix_available"]
durations = st.builds(
    lambda n, unit: f'duration("{n}{unit}")', st.integers(0, 10**6), st.sampled_from("hms")
)

ints = st.integers(-(2**40), 2**40) | st.integers(-3, 8)
doubles = st.floats(-2.0, 2.0, allow_nan=False) | st.sampled_from([0.0, 0.5, 1.0, -1.0])


def _int_literal(n: int) -> str:
    return str(n)


def _double_literal(x: float) -> str:
    text = repr(float(x))
    return text if "e" in text or "." in text else text + ".0"


string_literals = st.sampled_from(WORDS).map(lambda w: f'"{w}"') | st.sampled_from(
    ["'direct'", "'a'"]
)
int_literals = ints.map(_int_literal)
double_literals = doubles.map(_double_literal) | ints.map(_int_literal)  # ints beside doubles
EQUALITY = st.sampled_from(["==", "!="])
ORDER = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])


def _both_ways(field: str, op: str, literal: str, flip: bool) -> str:
    return f"{literal} {op} {field}" if flip else f"{field} {op} {literal}"


def _negative(literal: str) -> str:
    # CEL writes a negative literal with a unary minus, "-5" or "- 5"
    return literal.replace("-", "- ", 1) if literal.startswith("-") else literal


comparisons = st.one_of(
    st.builds(_both_ways, st.sampled_from(STRING_FIELDS), EQUALITY, string_literals, st.booleans()),
    st.builds(
        _both_ways, st.sampled_from(INT_FIELDS), ORDER, int_literals.map(_negative), st.booleans()
    ),
    st.builds(_both_ways, st.sampled_from(DOUBLE_FIELDS), ORDER, double_literals, st.booleans()),
    st.builds(
        _both_ways,
        st.sampled_from(BOOL_FIELDS),
        EQUALITY,
        st.sampled_from(["true", "false"]),
        st.booleans(),
    ),
    st.sampled_from(BOOL_FIELDS),
    st.builds(_both_ways, st.just("signal.age"), ORDER, durations, st.booleans()),
    st.builds(
        lambda f, items: f"{f} in [{', '.join(items)}]",
        st.sampled_from(STRING_FIELDS),
        st.lists(string_literals, min_size=1, max_size=4),
    ),
    st.builds(
        lambda f, items: f"{f} in [{', '.join(items)}]",
        st.sampled_from(INT_FIELDS),
        st.lists(int_literals, min_size=1, max_size=4),
    ),
    st.builds(lambda a, op, b: f"{a} {op} {b}", st.sampled_from(INT_FIELDS), ORDER,
              st.sampled_from(INT_FIELDS)),
    st.builds(lambda a, op, b: f"{a} {op} {b}", st.sampled_from(STRING_FIELDS), EQUALITY,
              st.sampled_from(STRING_FIELDS)),
)  # fmt: skip

expressions = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} && {b}", inner, inner),
        st.builds(lambda a, b: f"{a} || {b}", inner, inner),
        st.builds(lambda a: f"!({a})", inner),
        st.builds(lambda a: f"({a})", inner),
        st.sampled_from(BOOL_FIELDS).map(lambda f: f"!{f}"),
        st.sampled_from(BOOL_FIELDS).map(lambda f: f"!!{f}"),
    ),
    max_leaves=8,
)

signal_views = st.fixed_dictionaries(
    {
        **{f.split(".")[1]: st.sampled_from(WORDS) for f in STRING_FIELDS if "signal." in f},
        "severity": st.integers(0, 6),
        "age_seconds": st.integers(0, 10**10),
        "age": st.integers(0, 10**7).map(lambda n: timedelta(seconds=n)),
        "count": st.integers(1, 2**31) | ints.filter(lambda n: n > 0),
        "confidence": st.floats(0.0, 1.0),
        "epss": st.just(-1.0) | st.floats(0.0, 1.0),
        "epss_percentile": st.just(-1.0) | st.floats(0.0, 1.0),
        "tracked": st.booleans(),
        "fix_available": st.booleans(),
    }
)
variables = st.fixed_dictionaries(
    {
        "signal": signal_views,
        "proximity": st.sampled_from(["direct", "host", "namespace", "cluster", "environment"]),
        "environment": st.sampled_from(WORDS),
        "target": st.fixed_dictionaries(
            {k: st.sampled_from(WORDS) for k in ("environment", "cluster", "namespace", "workload")}
        ),
    }
)


def _cel(expression: str, values: dict[str, Any]) -> Any:
    return cel.compile(expression).execute(cel.Context(variables=values))


@settings(max_examples=400, deadline=None)
@given(expressions, variables)
def test_a_plain_rule_decides_as_cel_does(expression: str, values: dict[str, Any]) -> None:
    evaluate = plain(expression, "signal")
    assert evaluate is not None, f"generated from the plain grammar, yet not plain: {expression}"
    assert evaluate(values) is _cel(expression, values), expression


@pytest.mark.parametrize(
    "expression",
    [
        'signal.techniques.exists(t, t.startsWith("T1486"))',  # a macro
        "signal.severity >= 4.5",  # an int field against a double: rounding could differ
        "signal.confidence >= signal.severity",  # fields of two numeric types
        "signal.kind == 5",  # a string against an int: CEL says false, not an error
        'signal.kind < "m"',  # string order
        'signal.kind == "a\\"b"',  # an escape
        "signal.severity == 5u",  # an unsigned literal
        "signal.severity == 0x5",  # a hex literal
        "signal.severity > 9007199254740993",  # beyond exact doubles
        "signal.last_seen > timestamp('2026-01-01T00:00:00Z')",  # a timestamp
        "signal.kind",  # a string alone: CEL's result is not a boolean
        "signal.severity >= 5 ? true : false",  # a conditional
        "!signal.kind == 'x'",  # `!` binds to the string: a CEL error, fail closed
        "(signal.tracked) == true",  # a comparison of a parenthesized boolean
        "signal.cvss.score > 7",  # a map field
        'signal.age < duration("1h30m")',  # a duration of several units
        'signal.age < duration("1.5h")',  # a fraction
        "signal.age < 3600",  # a duration against an int
        "score >= 50",  # decision scope only
        "signal.severity >= 5 // a comment",
        "1 == 1",  # two literals
    ],
)
def test_other_shapes_stay_with_cel(expression: str) -> None:
    assert plain(expression, "signal") is None


def test_a_decision_rule_stays_with_cel() -> None:
    assert plain("signal.severity >= 5", "decision") is None


# Decision scope: the macros over `signals`, whose elements are signal views with the
# signal's proximity and contribution, and `score`.
ELEMENT_STRINGS = [f.replace("signal.", "s.") for f in STRING_FIELDS if f.startswith("signal.")]
ELEMENT_STRINGS += ["s.proximity", "target.cluster", "environment"]
ELEMENT_INTS = [f.replace("signal.", "s.") for f in INT_FIELDS]
ELEMENT_DOUBLES = [f.replace("signal.", "s.") for f in DOUBLE_FIELDS] + ["s.contribution", "score"]

predicates = st.recursive(
    st.one_of(
        st.builds(
            _both_ways, st.sampled_from(ELEMENT_STRINGS), EQUALITY, string_literals, st.booleans()
        ),
        st.builds(_both_ways, st.sampled_from(ELEMENT_INTS), ORDER, int_literals, st.booleans()),
        st.builds(
            _both_ways, st.sampled_from(ELEMENT_DOUBLES), ORDER, double_literals, st.booleans()
        ),
        st.sampled_from(["s.tracked", "!s.fix_available"]),
        st.builds(lambda op, d: f"s.age {op} {d}", ORDER, durations),
        st.builds(
            lambda f, items: f"{f} in [{', '.join(items)}]",
            st.sampled_from(ELEMENT_STRINGS),
            st.lists(string_literals, min_size=1, max_size=3),
        ),
    ),
    lambda inner: st.builds(
        lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(["&&", "||"]), inner
    ),
    max_leaves=4,
)
counts = st.sampled_from(["size(signals)", "signals.size()"]) | predicates.flatmap(
    lambda p: st.sampled_from([f"signals.filter(s, {p}).size()", f"size(signals.filter(s, {p}))"])
)
decision_terms = st.one_of(
    predicates.flatmap(
        lambda p: st.sampled_from(
            [f"signals.exists(s, {p})", f"signals.all(s, {p})", f"signals.exists_one(s, {p})"]
        )
    ),
    st.builds(lambda c, op, n: f"{c} {op} {n}", counts, ORDER, st.integers(0, 4).map(str)),
    st.builds(lambda op, x: f"score {op} {x}", ORDER, double_literals),
)
decision_expressions = st.recursive(
    decision_terms,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} && {b}", inner, inner),
        st.builds(lambda a, b: f"{a} || {b}", inner, inner),
        st.builds(lambda a: f"!({a})", inner),
    ),
    max_leaves=4,
)
elements = st.builds(
    lambda view, proximity, contribution: {
        **view,
        "proximity": proximity,
        "contribution": contribution,
    },
    signal_views,
    st.sampled_from(["direct", "host", "namespace"]),
    st.floats(0.0, 1.0),
)
decision_variables = st.fixed_dictionaries(
    {
        "signals": st.lists(elements, max_size=5),
        "score": st.floats(0.0, 100.0),
        "environment": st.sampled_from(WORDS),
        "target": st.fixed_dictionaries(
            {k: st.sampled_from(WORDS) for k in ("environment", "cluster", "namespace", "workload")}
        ),
    }
)


@settings(max_examples=300, deadline=None)
@given(decision_expressions, decision_variables)
def test_a_plain_decision_rule_decides_as_cel_does(expression: str, values: dict[str, Any]) -> None:
    evaluate = plain(expression, "decision")
    assert evaluate is not None, f"generated from the plain grammar, yet not plain: {expression}"
    assert evaluate(values) is _cel(expression, values), expression


@pytest.mark.parametrize(
    "expression",
    [
        "signals.exists(s, signals.exists(t, t.kind == s.kind))",  # nested over signals
        'signals.exists(score, score.kind == "a")',  # a binding shadowing a variable
        "signals.map(s, s.severity).size() > 1",  # map
        "size(signals.exists(s, s.severity > 1)) > 0",  # size of a boolean
        'sources.edr.state == "fresh"',  # sources: a map of maps
        "signals.exists(s, s.techniques.exists(t, t == 'T1'))",  # a list field
        "signals.filter(s, s.severity > 3)",  # a list, not a boolean
        "signals.exists(s, s.severity >= 4.5)",  # an int field against a double
        "signals.exists(s, has(s.kind))",
        'signal.kind == "x"',  # signal scope's variable
        "proximity == 'direct'",
    ],
)
def test_other_decision_shapes_stay_with_cel(expression: str) -> None:
    assert plain(expression, "decision") is None


# The direct form (plain.signal_rule) reads the Signal itself where the engine builds a view of
# it: on real signals, it must decide as the plain form does on the engine's view, so that (by
# the test above) it decides as CEL does.
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
signals = st.builds(
    lambda kind, severity, status, confidence, age, rule, tracked, count, epss, fix, title: Signal(
        uid=SignalUid("edr:1"),
        source="edr",
        kind=kind,
        title=title,
        severity=severity,
        confidence=confidence,
        status=status,
        first_seen=NOW - age - timedelta(hours=1),
        last_seen=NOW - age,
        assets=(parse_asset("host:web-1"),),
        rule=rule,
        tracked=tracked,
        count=count,
        epss=epss,
        epss_percentile=epss,
        fix_available=fix,
    ),
    st.sampled_from(list(SignalKind)),
    st.sampled_from(list(Severity)),
    st.sampled_from(list(SignalStatus)),
    st.floats(0.0, 1.0),
    # Future times (clock skew) too: the age then reads 0.
    st.integers(-(10**6), 10**9).map(lambda n: timedelta(seconds=n, microseconds=n % 7 * 3)),
    st.none() | st.sampled_from(WORDS).filter(str.isascii),
    st.booleans(),
    st.integers(1, 2**31),
    st.none() | st.floats(0.0, 1.0),
    st.none() | st.booleans(),
    st.sampled_from(WORDS).filter(str.isascii),
)


@settings(max_examples=400, deadline=None)
@given(expressions, signals, variables, st.sampled_from(WORDS))
def test_a_direct_rule_decides_as_the_plain_one_on_the_engines_view(
    expression: str, signal: Signal, values: dict[str, Any], change: str
) -> None:
    direct = signal_rule(expression)
    evaluate = plain(expression, "signal")
    assert direct is not None, expression
    assert evaluate is not None, expression
    view = {f: get(signal, NOW) for f, get in _SIGNAL_VIEW.items()}
    view["change"] = change
    values = {**values, "signal": view}
    held = direct(signal, values["proximity"], NOW, change, values["target"], values["environment"])
    assert held is evaluate(values), expression


def test_the_direct_form_reads_every_field_the_plain_grammar_knows() -> None:
    assert set(_SIGNAL_CODE) == set(_SIGNAL_TYPES) <= set(_SIGNAL_VIEW)


@settings(max_examples=300, deadline=None)
@given(signals, st.sampled_from(WORDS))
def test_each_direct_field_reads_what_the_engines_view_holds(signal: Signal, change: str) -> None:
    for name, code in _SIGNAL_CODE.items():
        read = eval(f"lambda s, now, c: {code}", {**_DIRECT_BUILTINS})
        value = read(signal, NOW, change)
        expected = change if name == "change" else _SIGNAL_VIEW[name](signal, NOW)
        assert value == expected, name
        # An IntEnum severity compares as its int (plain.py); anything else has the same type.
        assert isinstance(value, type(expected)), name
