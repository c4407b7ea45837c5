"""Policy rules as CEL expressions (the `common-expression-language` package).

A rule is compiled once at load; an expression that does not parse, or names a variable its
scope does not provide, is a load-time error with its position. At decision time a rule that
fails to evaluate (a missing field, a type error, a non-boolean result) fails closed: it counts
as firing, and the reason says it could not be evaluated.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec

from clearance.errors import RuleCompileError, RuleEvaluationError
from clearance.policy.plain import Direct, Evaluate, plain, signal_rule
from clearance.policy.schema import Rule


def _load_cel() -> ModuleType:
    """The package's compiled core, without its ``__init__``.

    ``import cel`` also imports the package's REPL (typer, prompt_toolkit, rich): about 100 ms
    on every ``clearance check``. The core is registered as ``cel.cel`` in ``sys.modules`` so
    that a later plain ``import cel`` reuses it instead of initializing the extension twice.
    """
    if "cel.cel" in sys.modules:
        return sys.modules["cel.cel"]
    spec = importlib.util.find_spec("cel")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"cel{suffix}"
            if path.exists():
                loader = importlib.machinery.ExtensionFileLoader("cel.cel", str(path))
                core_spec = importlib.util.spec_from_file_location("cel.cel", path, loader=loader)
                if core_spec is not None:
                    module = importlib.util.module_from_spec(core_spec)
                    loader.exec_module(module)
                    sys.modules["cel.cel"] = module
                    return module
    import cel  # noqa: PLC0415 - an unusual install layout: take the slow path

    return cel


cel = _load_cel()

SIGNAL_VARIABLES = frozenset({"signal", "proximity", "target", "environment", "now"})
DECISION_VARIABLES = frozenset({"score", "signals", "sources", "target", "environment", "now"})
# The fields of the `signal` map the engine provides (docs/policy.md lists them).
SIGNAL_FIELDS = frozenset(
    {
        "uid", "source", "kind", "title", "rule", "severity", "severity_label", "confidence",
        "status", "age_seconds", "count", "techniques", "assets", "first_seen", "last_seen",
        "age", "tracked", "epss", "epss_percentile", "fix_available", "cvss", "change",
    }
)  # fmt: skip
# Macros bind their own variable (`signals.exists(s, s.severity > 3)`); the compiled program
# lists it among its variables, but it is not one the engine must provide.
_MACRO_BINDING = re.compile(
    r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,"
)
_SIGNAL_WORD = re.compile(r"\bsignal\b")
_SIGNAL_FIELD = re.compile(r"\bsignal\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")

# The cost bound. The cel package offers no cost limit, no AST and no cancellation, and a
# comprehension costs its list's length times its body's cost: three nested over 200 signals
# took 11.8 s a decision (and, holding the GIL, stalled every other request). So: a rule may
# nest comprehensions (all, exists, exists_one, map, filter) at most this deep, checked at
# load; a decision-scope rule reads at most MAX_RULE_SIGNALS signals (engine.py: over it, the
# rule is not run and counts as firing, fail closed). Signal-scope rules see one signal's short
# lists (techniques, assets), so one level is all they need.
MAX_NESTING = {"decision": 2, "signal": 1}
MAX_RULE_SIGNALS = 256
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_TOKEN = re.compile(
    r"""(?P<string>[rRbB]{0,2}(?:'{3}[\s\S]*?'{3}|"{3}[\s\S]*?"{3}|'(?:\\.|[^'\\\n])*'"""
    r"""|"(?:\\.|[^"\\\n])*"))|(?P<macro>\.\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*\()"""
    r"""|(?P<open>\()|(?P<close>\))"""
)

# What a decision rule's `signals` elements hold beyond a signal's view (engine.py).
ELEMENT_EXTRAS = frozenset({"proximity", "contribution"})
_STRING = re.compile(
    r"""[rRbB]{0,2}(?:'{3}[\s\S]*?'{3}|"{3}[\s\S]*?"{3}|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")"""
)
_HAS = re.compile(r"\bhas\s*\(")
_SIGNALS_WORD = re.compile(r"(?<![\w.])\bsignals\b")
_SIGNALS_MACRO = re.compile(
    r"(?<![\w.])\bsignals\s*\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,"
)
_SIGNALS_SIZE = re.compile(r"\bsize\s*\(\s*signals\s*\)|(?<![\w.])\bsignals\s*\.\s*size\s*\(\s*\)")

# The parser reports "<input>:LINE:COL: message" (1-based, in the expression's own text).
_CEL_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")


class CompiledRule(msgspec.Struct, frozen=True):
    """A compiled rule and what it reads.

    ``variables`` are the top-level names the expression uses; ``signal_fields`` the fields of
    ``signal`` it reads, or None when it uses ``signal`` as a whole. The engine passes only
    those: converting values into CEL costs about a microsecond per field, per signal.
    """

    rule: Rule
    program: Any  # cel.Program: the package ships no typing for it
    variables: frozenset[str]
    signal_fields: frozenset[str] | None
    # For a decision rule reading ``signals``: the fields it reads of each element, when that
    # is all it reads of them (_element_fields); None when it may read any.
    element_fields: frozenset[str] | None = None
    # The same expression as Python closures, when it is plain (policy/plain.py): no CEL call.
    plain: Evaluate | None = None
    # A plain signal rule once more, reading the Signal itself (plain.signal_rule): the engine
    # then builds no view of the signal for it.
    direct: Direct | None = None

    def fires(self, variables: Mapping[str, Any]) -> bool:
        """True when the expression holds; raises RuleEvaluationError when it cannot be decided."""
        if self.plain is not None:  # equivalent to CEL on the engine's variables, and total
            return self.plain(variables)
        try:
            result = self.program.execute(cel.Context(variables=dict(variables)))
        # The cel package reports evaluation failures as the nearest Python exception: a missing
        # map key is a KeyError, a bad index IndexError, division by zero ArithmeticError.
        except (RuntimeError, TypeError, ValueError, LookupError, ArithmeticError) as exc:
            raise RuleEvaluationError(_first_line(str(exc))) from exc
        if not isinstance(result, bool):
            raise RuleEvaluationError(f"expression gave {type(result).__name__}, not a boolean")
        return result


def compile_rule(rule: Rule) -> CompiledRule:
    try:
        program = cel.compile(rule.when)
    except ValueError as exc:
        text = str(exc)
        if m := _CEL_POSITION.search(text):
            raise RuleCompileError(
                f"invalid CEL in rule {rule.name!r}: {_first_line(m.group(3))}",
                int(m.group(1)),
                int(m.group(2)),
            ) from exc
        raise RuleCompileError(f"invalid CEL in rule {rule.name!r}: {_first_line(text)}") from exc
    depth, line, column = comprehension_depth(rule.when)
    limit = MAX_NESTING[rule.scope]
    if depth > limit:
        raise RuleCompileError(
            f"rule {rule.name!r} nests comprehensions {depth} deep; a {rule.scope}-scope rule "
            f"may nest at most {limit} (each level multiplies the work by a list's length)",
            line,
            column,
        )
    allowed = SIGNAL_VARIABLES if rule.scope == "signal" else DECISION_VARIABLES
    bound = set(_MACRO_BINDING.findall(rule.when))
    unknown = sorted(set(program.variables()) - allowed - bound)
    if unknown:
        raise RuleCompileError(
            f"rule {rule.name!r} uses unknown variable(s) {', '.join(unknown)}; "
            f"a {rule.scope}-scope rule can use {', '.join(sorted(allowed))}"
        )
    fields = _signal_fields(rule)
    if fields is not None and (unknown_fields := sorted(fields - SIGNAL_FIELDS)):
        raise RuleCompileError(
            f"rule {rule.name!r} reads unknown signal field(s) {', '.join(unknown_fields)}; "
            f"signal has {', '.join(sorted(SIGNAL_FIELDS))}"
        )
    return CompiledRule(
        rule=rule,
        program=program,
        variables=frozenset(program.variables()) & allowed,
        signal_fields=fields,
        plain=plain(rule.when, rule.scope),
        direct=signal_rule(rule.when) if rule.scope == "signal" else None,
        element_fields=_element_fields(rule),
    )


def comprehension_depth(expression: str) -> tuple[int, int, int]:
    """How deep comprehension macros nest in ``expression``, and where (1-based line and
    column) the deepest one opens. A scan of the tokens that matter (string literals skipped,
    parentheses matched): the cel package exposes no syntax tree."""
    stack: list[bool] = []  # one entry per open parenthesis: does it open a comprehension?
    deepest, at = 0, 0
    for match in _TOKEN.finditer(expression):
        if match.group("string") is not None:
            continue
        if match.group("macro") is not None:
            stack.append(match.group("name") in _MACROS)
            depth = sum(stack)
            if depth > deepest:
                deepest, at = depth, match.start()
        elif match.group("open") is not None:
            stack.append(False)
        elif stack:
            stack.pop()
    line = expression.count("\n", 0, at) + 1
    column = at - (expression.rfind("\n", 0, at) + 1) + 1
    return deepest, line, column


def _signal_fields(rule: Rule) -> frozenset[str] | None:
    """Fields read as ``signal.<field>``; None if ``signal`` is also used any other way."""
    if rule.scope != "signal":
        return None
    fields = _SIGNAL_FIELD.findall(rule.when)
    if len(fields) != len(_SIGNAL_WORD.findall(rule.when)):
        return None
    return frozenset(fields)


def _element_fields(rule: Rule) -> frozenset[str] | None:
    """The fields a decision rule reads of each element of ``signals``, or None if it may read
    any: the engine then builds (and the cel package converts) only those, not all 22 a signal
    view holds (lists of techniques and assets cost ~1 µs an item to convert: ~1 ms a decision).

    Conservative, on the expression without its string literals: ``signals`` appears only as
    ``signals.<macro>(NAME, …)`` or in ``size(signals)``/``signals.size()``; every other
    appearance of each bound NAME is ``NAME.<field>`` (not a method call); no ``has()`` (it
    tests presence, which a narrower view would change); and every field read is one the view
    has (a misspelt one keeps the whole view, so it fails as before). An expression that only
    reads these fields evaluates alike on any view holding them.
    """
    if rule.scope != "decision":
        return None
    text = _STRING.sub('""', rule.when)
    if _HAS.search(text):
        return None
    names = _SIGNALS_MACRO.findall(text)
    if len(_SIGNALS_WORD.findall(text)) != len(names) + len(_SIGNALS_SIZE.findall(text)):
        return None
    bindings = _MACRO_BINDING.findall(text)
    fields: set[str] = set()
    for name in set(names):
        word = re.compile(rf"(?<![\w.])\b{name}\b")
        read = re.compile(rf"(?<![\w.])\b{name}\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()")
        reads = read.findall(text)
        if len(word.findall(text)) != bindings.count(name) + len(reads):
            return None
        fields.update(reads)
    if not fields <= SIGNAL_FIELDS | ELEMENT_EXTRAS:
        return None
    return frozenset(fields)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"
