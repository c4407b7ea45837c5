"""Plain rules, evaluated without CEL: comparisons of typed fields with literals, in ``&&``,
``||`` and ``!``.

Most rules are of this shape (``signal.kind == "detection" && signal.severity >= 5 &&
proximity in ["direct", "host"]``), and for them the CEL call costs far more than the
comparison: the cel package converts every variable into CEL values on each call (~4 µs a
signal, 90 µs of a 22-signal decision). A rule whose whole expression parses here is evaluated
as one compiled Python expression instead; anything else (a macro, a function, a map, a
literal of another type, an escape in a string, a comment) returns None and stays with CEL.

Equivalence with CEL, by construction: every field read here is always present and has a
known type (below), and every comparison admitted is one both sides define alike on those
types, so no leaf can fail and ``&&``/``||`` reduce to plain boolean logic:

* strings: ``==``, ``!=`` and ``in`` a list of strings (code point equality in both);
* ints: every comparison with int literals, and ``in`` a list of ints;
* doubles: every comparison with double or int literals (CEL compares them numerically, as
  Python does; literals are kept below 2**53 so that no rounding can differ);
* bools: ``==`` and ``!=`` with ``true``/``false``, a bool field alone, ``!``;
* durations (``signal.age``): every comparison with ``duration("<n>h|m|s")`` (exact in both);
* decision rules: ``score``, and ``signals.exists``/``all``/``exists_one``/``filter(…).size()``
  and ``size(signals)`` with a plain predicate over the element's fields.

``tests/property/test_plain_rules.py`` generates expressions of this grammar and signals, and
checks that both evaluators agree on every one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

Variables = Mapping[str, Any]
Evaluate = Callable[[Variables], bool]
# A signal rule over (signal, proximity label, now, change, target view, environment).
Direct = Callable[[Any, str, datetime, str, Mapping[str, Any], str], bool]

# Field types as the engine provides them (engine._SIGNAL_VIEW, Target.to_dict).
_SIGNAL_TYPES: dict[str, type] = {
    "uid": str, "source": str, "kind": str, "title": str, "rule": str, "severity_label": str,
    "status": str, "change": str, "severity": int, "age_seconds": int, "count": int,
    "confidence": float, "epss": float, "epss_percentile": float, "tracked": bool,
    "fix_available": bool, "age": timedelta,
}  # fmt: skip
# Each field of _SIGNAL_TYPES as signal_rule reads it from the Signal ``s`` (and ``now``,
# ``c``): the same operations as the engine's view (engine._SIGNAL_VIEW; a unit test compares
# them on every field). Severity is an IntEnum, so it compares, hashes and tests membership
# in a set of ints exactly as int(severity) does; enum values by ``_value_`` as the view reads
# them; the age as scoring.age_seconds computes it.
_AGE = "max(0, int((now - s.last_seen).total_seconds()))"
_SIGNAL_CODE: dict[str, str] = {
    "uid": "s.uid", "source": "s.source", "kind": "s.kind._value_", "title": "s.title",
    "rule": '(s.rule or "")', "severity_label": "s.severity.label",
    "status": "s.status._value_", "change": "c", "severity": "s.severity",
    "age_seconds": _AGE, "count": "s.count", "confidence": "s.confidence",
    "epss": "(-1.0 if s.epss is None else s.epss)",
    "epss_percentile": "(-1.0 if s.epss_percentile is None else s.epss_percentile)",
    "tracked": "s.tracked", "fix_available": "bool(s.fix_available)",
    "age": f"_timedelta(seconds={_AGE})",
}  # fmt: skip
assert set(_SIGNAL_CODE) == set(_SIGNAL_TYPES)
_DIRECT_BUILTINS = {"max": max, "int": int, "bool": bool, "_timedelta": timedelta}
_TARGET_TYPES: dict[str, type] = {
    "environment": str,
    "cluster": str,
    "namespace": str,
    "workload": str,
}
# What the elements of a decision rule's `signals` hold: a signal's view and two more.
_ELEMENT_TYPES: dict[str, type] = {**_SIGNAL_TYPES, "proximity": str, "contribution": float}
# Names a macro may not bind here (shadowing them would change what the predicate reads).
_RESERVED = frozenset(
    {"signals", "signal", "score", "target", "environment", "proximity", "true", "false",
     "in", "size", "null", "now", "sources"}
)  # fmt: skip
_BUILTINS = {"any": any, "all": all, "sum": sum, "len": len}
_EXACT = 2**53  # literals beyond this could round differently in CEL's int-to-double compare
_DURATION = re.compile(r"(\d{1,12})(h|m|s)")
_UNIT = {"h": 3600, "m": 60, "s": 1}
_LONGEST = 315_576_000_000  # CEL's largest duration, in seconds (10,000 years)

_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"[^"\\\n]*"|'[^'\\\n]*')"""
    r"""|(?P<double>\d+\.\d+(?:[eE][+-]?\d+)?(?![\w.])|\d+[eE][+-]?\d+(?![\w.]))"""
    r"""|(?P<int>\d+(?![\w.]))"""
    r"""|(?P<op>&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|\[|\]|,|\.|-)"""
    r"""|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"""
)
_COMPARE = frozenset({"==", "!=", "<", "<=", ">", ">="})
_EQUALITY = frozenset({"==", "!="})


class _NotPlain(Exception):  # noqa: N818 - a control-flow signal: leave the rule to CEL
    pass


class _Operand:
    """A field (``code`` reads it from the variables ``v``) or a literal (``value``)."""

    __slots__ = ("code", "type", "value")

    def __init__(self, type_: type, code: str | None, value: Any) -> None:
        self.type, self.code, self.value = type_, code, value


def plain(expression: str, scope: str) -> Evaluate | None:
    """A Python evaluator equivalent to the CEL ``expression``, or None if it is not plain.

    The parse is turned into one Python expression over the variables ``v``, compiled once
    (as ``dataclasses`` and ``namedtuple`` compile their methods): a call is then a single
    function with no nested calls. Its text is built only from the grammar's tokens: field
    names from the tables above, literals through ``repr`` (of a str, int, float or bool),
    lists as named constants.
    """
    parsed = _parse(expression, scope, direct=False)
    if parsed is None:
        return None
    code, constants = parsed
    namespace: dict[str, Any] = {"__builtins__": {}, **_BUILTINS, **constants}
    evaluate: Evaluate = eval(f"lambda v: {code}", namespace)  # noqa: S307 - see above
    return evaluate


def signal_rule(expression: str) -> Direct | None:
    """The signal-scope ``expression`` as ``f(s, p, now, c, t, env)``, reading the Signal ``s``
    itself, or None if it is not plain.

    The same parse and the same Python expression as :func:`plain`, except that each field is
    read where the engine's view of a signal (``engine._SIGNAL_VIEW``) takes it from, by the
    same operations (``_SIGNAL_CODE``), rather than from a dict built per signal: ``p`` is
    the proximity's label, ``c`` what the deploy does to the signal (``change``), ``t`` the
    target's view and ``env`` the environment. Building that dict and the variables around
    it was most of a plain rule's cost (~0.7 µs a signal). ``tests/property/test_plain_rules.py``
    checks both forms agree on generated signals.
    """
    parsed = _parse(expression, "signal", direct=True)
    if parsed is None:
        return None
    code, constants = parsed
    namespace: dict[str, Any] = {
        "__builtins__": {},
        **_BUILTINS,
        **_DIRECT_BUILTINS,
        **constants,
    }
    evaluate: Direct = eval(f"lambda s, p, now, c, t, env: {code}", namespace)  # noqa: S307
    return evaluate


def _parse(expression: str, scope: str, *, direct: bool) -> tuple[str, dict[str, Any]] | None:
    """The Python expression for ``expression`` and the constants it names, or None if the
    expression is not plain (all of it must parse)."""
    tokens = _tokens(expression)
    if tokens is None:
        return None
    parser = _Parser(tokens, scope, direct=direct)
    try:
        code = parser.disjunction()
        if parser.at < len(tokens):
            raise _NotPlain
    except _NotPlain:
        return None
    return code, parser.constants


def _tokens(expression: str) -> list[tuple[str, str]] | None:
    out: list[tuple[str, str]] = []
    pos, end = 0, len(expression.rstrip())
    while pos < end:
        m = _TOKEN.match(expression, pos)
        if m is None or m.lastgroup is None:
            return None
        out.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over CEL's precedence: ``||`` < ``&&`` < relations < ``!``. Each
    production returns the Python source of a boolean expression."""

    def __init__(self, tokens: list[tuple[str, str]], scope: str, direct: bool = False) -> None:
        self.tokens = tokens
        self.at = 0
        self.constants: dict[str, Any] = {}
        self.scope = scope
        self.direct = direct  # signal scope: read the Signal itself (see signal_rule)
        self.element: str | None = None  # the name a macro binds, while parsing its predicate

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (text is not None and token[1] != text):
            raise _NotPlain
        self.at += 1
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token[1] == text and token[0] in ("op", "name"):
            self.at += 1
            return True
        return False

    def disjunction(self) -> str:
        terms = [self.conjunction()]
        while self.accept("||"):
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else "(" + " or ".join(terms) + ")"

    def conjunction(self) -> str:
        terms = [self.unary()]
        while self.accept("&&"):
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else "(" + " and ".join(terms) + ")"

    def unary(self) -> str:
        if self.accept("!"):
            return f"(not {self.negated()})"
        if self.accept("("):
            inner = self.disjunction()
            self.take(")")
            if self._relation_follows():  # `(a) == b`: a comparison of booleans; leave to CEL
                raise _NotPlain
            return inner
        return self.relation()

    def negated(self) -> str:
        """What ``!`` applies to: CEL binds it tighter than any relation."""
        if self.accept("!"):
            return f"(not {self.negated()})"
        if self.accept("("):
            inner = self.disjunction()
            self.take(")")
        else:
            inner = self._bool_field(self.operand())
        if self._relation_follows():
            raise _NotPlain
        return inner

    def _relation_follows(self) -> bool:
        token = self.peek()
        return token is not None and (token[1] in _COMPARE or token == ("name", "in"))

    def relation(self) -> str:
        left = self.operand()
        token = self.peek()
        if token == ("name", "in"):
            self.at += 1
            return self._membership(left, self._list())
        if token is None or token[1] not in _COMPARE:
            return self._bool_field(left)
        self.at += 1
        right = self.operand()
        return _comparison(left, token[1], right, self.constants)

    def operand(self) -> _Operand:
        kind, text = self.take()
        if kind == "string":
            return _Operand(str, None, text[1:-1])
        if kind in ("int", "double") or (kind, text) == ("op", "-"):
            return self._number(kind, text)
        if kind != "name":
            raise _NotPlain
        if text in ("true", "false"):
            return _Operand(bool, None, text == "true")
        if text == "duration" and self.accept("("):  # duration("24h"): whole units only
            kind, literal = self.take()
            self.take(")")
            m = _DURATION.fullmatch(literal[1:-1]) if kind == "string" else None
            if m is None or int(m.group(1)) * _UNIT[m.group(2)] > _LONGEST:
                raise _NotPlain
            return _Operand(timedelta, None, timedelta(seconds=int(m.group(1)) * _UNIT[m.group(2)]))
        if text == self.element and self.accept("."):
            return _Operand(*self._field(_ELEMENT_TYPES, "_e"))
        if text == "environment" or (text == "proximity" and self.scope == "signal"):
            if self.direct:
                return _Operand(str, "env" if text == "environment" else "p", None)
            return _Operand(str, f"v[{text!r}]", None)
        if text == "score" and self.scope == "decision":
            return _Operand(float, "v['score']", None)
        if text == "signal" and self.scope == "signal" and self.accept("."):
            type_, code, _ = self._field(_SIGNAL_TYPES, "v['signal']")
            if self.direct:
                code = _SIGNAL_CODE[self.tokens[self.at - 1][1]]
            return _Operand(type_, code, None)
        if text == "target" and self.accept("."):
            return _Operand(*self._field(_TARGET_TYPES, "t" if self.direct else "v['target']"))
        if self.scope == "decision" and self.element is None:
            if text == "signals":
                return self._signals()
            if text == "size" and self.accept("("):  # size(signals), size(signals.filter(…))
                self.take("signals")
                if self.accept(")"):
                    return _Operand(int, "len(v['signals'])", None)
                count = self._signals(sized=False)
                self.take(")")
                return count
        raise _NotPlain

    def _field(self, types: dict[str, type], holder: str) -> tuple[type, str, None]:
        kind, name = self.take()
        if kind != "name" or name not in types:
            raise _NotPlain
        return types[name], f"{holder}[{name!r}]", None

    def _signals(self, sized: bool = True) -> _Operand:
        """``signals.size()``, ``signals.exists(x, P)`` and its kin, ``signals.filter(x,
        P).size()``: CEL's macros over the decision's signals, each element a map."""
        self.take(".")
        kind, macro = self.take()
        if kind != "name":
            raise _NotPlain
        if macro == "size" and sized:
            self.take("(")
            self.take(")")
            return _Operand(int, "len(v['signals'])", None)
        if macro not in ("exists", "all", "exists_one", "filter") or (
            not sized and macro != "filter"
        ):
            raise _NotPlain
        self.take("(")
        kind, name = self.take()
        if kind != "name" or name in _RESERVED:
            raise _NotPlain
        self.take(",")
        self.element = name
        predicate = self.disjunction()
        self.element = None
        self.take(")")
        each = "for _e in v['signals']"
        if macro == "exists":
            return _Operand(bool, f"any({predicate} {each})", None)
        if macro == "all":
            return _Operand(bool, f"all({predicate} {each})", None)
        count = _Operand(int, f"sum(1 {each} if {predicate})", None)
        if macro == "exists_one":
            return _Operand(bool, f"({count.code} == 1)", None)
        if sized:  # filter gives a list: only its size is plain
            self.take(".")
            self.take("size")
            self.take("(")
            self.take(")")
        return count

    def _number(self, kind: str, text: str) -> _Operand:
        sign = 1
        if text == "-":
            sign = -1
            kind, text = self.take()
        if kind == "int":
            value: float = sign * int(text)
        elif kind == "double":
            value = sign * float(text)
        else:
            raise _NotPlain
        if not abs(value) < _EXACT:
            raise _NotPlain
        return _Operand(int if kind == "int" else float, None, value)

    def _list(self) -> list[_Operand]:
        self.take("[")
        items = [self.operand()]
        while self.accept(","):
            items.append(self.operand())
        self.take("]")
        return items

    def _membership(self, left: _Operand, items: list[_Operand]) -> str:
        if left.code is None or left.type not in (str, int):
            raise _NotPlain
        if any(item.code is not None or item.type is not left.type for item in items):
            raise _NotPlain
        name = f"_c{len(self.constants)}"
        self.constants[name] = frozenset(item.value for item in items)
        return f"({left.code} in {name})"

    def _bool_field(self, operand: _Operand) -> str:
        if operand.code is None or operand.type is not bool:
            raise _NotPlain
        return f"({operand.code} is True)"  # a bool field or macro: the same truth as bool()


def _comparison(left: _Operand, op: str, right: _Operand, constants: dict[str, Any]) -> str:
    types = {left.type, right.type}
    if len(types) == 2 and types != {int, float}:
        raise _NotPlain  # a string against a number, a bool against anything else
    if types & {str, bool} and op not in _EQUALITY:
        raise _NotPlain
    if types == {int, float}:
        # Numeric comparison across types only with a literal int beside a double field:
        # an int field against a double could round in CEL where Python compares exactly.
        field = left if left.code is not None else right
        if field.type is not float or (left.code is not None and right.code is not None):
            raise _NotPlain
    if left.code is None and right.code is None:
        raise _NotPlain  # two literals: leave constant folding to CEL
    return f"({_source(left, constants)} {op} {_source(right, constants)})"


def _source(operand: _Operand, constants: dict[str, Any]) -> str:
    if operand.code is not None:
        return operand.code
    if operand.type is timedelta:  # a duration: a named constant, compared exactly as CEL does
        name = f"_c{len(constants)}"
        constants[name] = operand.value
        return name
    # repr of a str, int, float or bool is a Python literal of the same value (floats: the
    # shortest repr round-trips exactly; the range check above keeps out inf and nan).
    return repr(operand.value)
