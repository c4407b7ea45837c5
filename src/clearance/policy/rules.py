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
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

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

# The parser reports "<input>:LINE:COL: message" (1-based, in the expression's own text).
_CEL_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")


class RuleCompileError(ValueError):
    """A rule that cannot be compiled; ``line``/``column`` are 1-based within the expression."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        self.line = line
        self.column = column
        super().__init__(message)


class RuleEvaluationError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A compiled rule and what it reads.

    ``variables`` are the top-level names the expression uses; ``signal_fields`` the fields of
    ``signal`` it reads, or None when it uses ``signal`` as a whole. The engine passes only
    those: converting values into CEL costs about a microsecond per field, per signal.
    """

    rule: Rule
    program: Any  # cel.Program: the package ships no typing for it
    variables: frozenset[str]
    signal_fields: frozenset[str] | None

    def fires(self, variables: Mapping[str, Any]) -> bool:
        """True when the expression holds; raises RuleEvaluationError when it cannot be decided."""
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
    )


def _signal_fields(rule: Rule) -> frozenset[str] | None:
    """Fields read as ``signal.<field>``; None if ``signal`` is also used any other way."""
    if rule.scope != "signal":
        return None
    fields = _SIGNAL_FIELD.findall(rule.when)
    if len(fields) != len(_SIGNAL_WORD.findall(rule.when)):
        return None
    return frozenset(fields)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"
