"""A decision rule given views of only the fields it reads decides as with whole views.

policy/rules.py finds, conservatively, the fields a decision rule reads of each element of
``signals``; the engine then builds only those. Here CEL evaluates each expression on whole
views and on the narrowed ones, and the answers (or the failure) must be the same.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.model.decision import Verdict
from clearance.policy.rules import ELEMENT_EXTRAS, SIGNAL_FIELDS, _element_fields, cel
from clearance.policy.schema import Rule

NARROWED = [
    'signals.filter(s, s.kind == "detection" && s.severity >= 3 '
    '&& s.proximity in ["direct", "host"]).size() >= 2',
    'signals.exists(s, s.techniques.exists(t, t.startsWith("T1486")))',
    "signals.map(x, x.contribution).exists(c, c > 0.5)",
    'signals.exists(s, s.kind == "a") && signals.all(t, t.severity < 5)',
    'signals.exists(s, s.title.contains("s.uid"))',
    "size(signals) > 2 && signals.exists_one(s, s.epss > 0.5)",
    "signals.exists(s, s.cvss.score >= 9.0)",
    "score >= 90",
]
WHOLE = [
    "signals.exists(s, has(s.kind))",
    "signals.exists(s, size(s) > 3)",
    'signals[0].kind == "detection"',
    "signals.exists(s, s.nonexistent == 1)",
    'signals.exists(s, s.all(k, k != "uid"))',
]


def _rule(when: str) -> Rule:
    return Rule(name="r", scope="decision", when=when, verdict=Verdict.BLOCK, message="m")


@pytest.mark.parametrize("when", NARROWED)
def test_a_rule_reading_some_fields_is_given_those(when: str) -> None:
    fields = _element_fields(_rule(when))
    assert fields is not None
    assert fields <= SIGNAL_FIELDS | ELEMENT_EXTRAS


@pytest.mark.parametrize("when", WHOLE)
def test_a_rule_that_may_read_anything_is_given_everything(when: str) -> None:
    assert _element_fields(_rule(when)) is None


elements = st.fixed_dictionaries(
    {
        "uid": st.sampled_from(["edr:1", "s.uid"]),
        "kind": st.sampled_from(["detection", "vulnerability", "a"]),
        "title": st.sampled_from(["x s.uid y", "t"]),
        "severity": st.integers(0, 6),
        "epss": st.floats(-1.0, 1.0),
        "techniques": st.lists(st.sampled_from(["T1486", "T1059"]), max_size=3),
        "assets": st.lists(st.sampled_from(["host:a", "pod:b/c"]), max_size=2),
        "cvss": st.fixed_dictionaries({"score": st.floats(0.0, 10.0)}),
        "proximity": st.sampled_from(["direct", "host", "cluster"]),
        "contribution": st.floats(0.0, 1.0),
    }
)


def _outcome(when: str, values: dict[str, Any]) -> Any:
    try:
        return cel.compile(when).execute(cel.Context(variables=values))
    except (RuntimeError, TypeError, ValueError, LookupError, ArithmeticError) as exc:
        return ("error", type(exc).__name__)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(NARROWED), st.lists(elements, max_size=5), st.floats(0.0, 100.0))
def test_narrowed_views_give_the_same_answer(
    when: str, whole: list[dict[str, Any]], score: float
) -> None:
    fields = _element_fields(_rule(when)) or frozenset()
    narrowed = [{k: v for k, v in e.items() if k in fields} for e in whole]
    assert _outcome(when, {"signals": narrowed, "score": score}) == _outcome(
        when, {"signals": whole, "score": score}
    )
