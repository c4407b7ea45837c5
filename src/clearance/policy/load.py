"""Load a policy file; reject a bad one with every problem as ``file:line:col: message``.

The YAML is composed into nodes first (they carry positions), then validated by the schema
(msgspec structs, every problem reported: :mod:`clearance.validation`); each validation
error's path is walked back through the nodes to the line and column it came from (see
locate.py). Unknown keys point at the key, bad values at the value, missing fields at the
mapping that lacks them. The checks the schema cannot make alone (duplicate YAML
keys and names, CEL rules, references to environments, asset kinds) run on the raw document,
so that one bad field does not hide the problems elsewhere: every problem is reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from clearance import bounded_yaml
from clearance.errors import PolicyError, Problem, RuleCompileError
from clearance.model.assets import AssetKind
from clearance.policy.compiled import Policy
from clearance.policy.locate import dotted, error_position, mark, scalar_position, walk
from clearance.policy.rules import CompiledRule, compile_rule
from clearance.policy.schema import POLICY_SCHEMA_VERSION, PolicyDocument, Rule
from clearance.validation import SchemaError, validate

# Read from a CEL error's message only: compiled on first use (re caches them).
_UNKNOWN_NAMES = r"unknown variable\(s\) ([\w, ]+);"
_UNKNOWN_FIELDS = r"unknown signal field\(s\) ([\w, ]+);"


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PolicyError(
            [Problem(str(path), 0, 0, f"cannot read the policy: {exc.strerror or exc}")]
        ) from exc
    return load_policy_text(text, str(path))


def load_policy_text(text: bytes | str, origin: str) -> Policy:
    """Validate and compile a policy; raise PolicyError listing every problem found."""
    raw = text.encode() if isinstance(text, str) else text
    lines = raw.decode("utf-8", errors="replace").splitlines()
    root, data = _compose(raw, origin, lines)
    if not isinstance(data, dict) or not isinstance(root, MappingNode):
        raise PolicyError(
            [
                Problem(
                    origin,
                    *mark(root),
                    f"a policy is a mapping (schema_version, environments, scoring, rules, …), "
                    f"not a {type(data).__name__}; start from examples/policy.yaml",
                )
            ]
        )
    found: list[tuple[int, int, str]] = []
    found += _duplicate_keys(root)
    found += _version(root, data)
    document: PolicyDocument | None = None
    try:
        document = validate(data, PolicyDocument)
    except SchemaError as exc:
        errors = [e for e in exc.errors() if not _checked_here(e)]
        found += [error_position(e, root) for e in errors if not _typo_explains(e, errors)]
    found += _duplicate_names(root, data)
    compiled: list[CompiledRule] = []
    found += _rules(root, data, lines, compiled)
    found += _references(root, data)
    if found or document is None:
        problems = sorted({Problem(origin, *f) for f in found}, key=_order)
        raise PolicyError(problems or [Problem(origin, 1, 1, "the policy is not valid")])
    # Every rule compiled above, in order (a valid document's rules are all mappings): the
    # Policy takes them instead of compiling each CEL expression a second time.
    return Policy.build(document, raw, origin, rules=tuple(compiled))


def _order(p: Problem) -> tuple[int, int, str]:
    return p.line, p.column, p.message


def _compose(raw: bytes, origin: str, lines: list[str]) -> tuple[Node, Any]:
    try:
        root, data = bounded_yaml.compose_and_load(raw, origin)
    except yaml.MarkedYAMLError as exc:
        at = exc.problem_mark or exc.context_mark
        line, column = (at.line + 1, at.column + 1) if at else (1, 1)
        if line > max(len(lines), 1):  # the end of the stream: name the last line, not past it
            line, column = max(len(lines), 1), len(lines[-1]) + 1 if lines else 1
        what = exc.problem or str(exc)
        if isinstance(exc, bounded_yaml.YamlLimitError):
            message = f"refused: {what} (a policy needs nothing like it)"
        else:
            message = f"not valid YAML: {what}; check indentation and quotes"
        raise PolicyError([Problem(origin, line, column, message)]) from exc
    except (yaml.YAMLError, ValueError) as exc:  # a bad encoding, or a value YAML cannot build
        raise PolicyError([Problem(origin, 1, 1, f"not valid YAML: {exc}")]) from exc
    if root is None:
        raise PolicyError(
            [Problem(origin, 1, 1, "the policy is empty; start from examples/policy.yaml")]
        )
    return root, data


def _checked_here(error: Any) -> bool:
    """Errors this module reports itself, with a better position or message."""
    loc = tuple(error["loc"])
    if loc[:1] == ("schema_version",):
        return True
    return loc == () and "duplicate " in str(error["msg"]) and " name(s)" in str(error["msg"])


def _typo_explains(error: Any, errors: list[Any]) -> bool:
    """A missing field beside an unknown key that looks like it: report the typo only."""
    if error["type"] != "missing" or not error["loc"]:
        return False
    import difflib  # noqa: PLC0415 - only a policy with errors needs it

    *parent, name = error["loc"]
    return any(
        e["type"] == "extra_forbidden"
        and list(e["loc"][:-1]) == parent
        and difflib.get_close_matches(str(e["loc"][-1]), [str(name)], n=1)
        for e in errors
    )


def _version(root: Node, data: dict[Any, Any]) -> list[tuple[int, int, str]]:
    if "schema_version" not in data:
        return [
            (
                *mark(root),
                f"missing field 'schema_version': add `schema_version: {POLICY_SCHEMA_VERSION}` "
                "as the first line",
            )
        ]
    version = data["schema_version"]
    if type(version) is int and version == POLICY_SCHEMA_VERSION:
        return []
    node = walk(root, "schema_version") or root
    return [
        (
            *mark(node),
            f"unsupported schema_version {version!r}: schema_version must be "
            f"{POLICY_SCHEMA_VERSION} for this Clearance; see CHANGELOG.md to migrate, "
            "or upgrade Clearance",
        )
    ]


def _duplicate_keys(node: Node) -> Iterator[tuple[int, int, str]]:
    """PyYAML keeps the last of two equal keys silently; a policy must not."""
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            if isinstance(k, ScalarNode):
                if k.value in seen:
                    yield (
                        *mark(k),
                        f"duplicate key {k.value!r} (first on line {seen[k.value]}): the later "
                        "value would silently win; keep one",
                    )
                seen.setdefault(k.value, mark(k)[0])
            yield from _duplicate_keys(v)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


def _items(data: dict[Any, Any], section: str) -> list[tuple[int, dict[Any, Any]]]:
    value = data.get(section)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _duplicate_names(root: Node, data: dict[Any, Any]) -> Iterator[tuple[int, int, str]]:
    for section, field, kind in (
        ("rules", "name", "rule"),
        ("suppressions", "name", "suppression"),
        ("exceptions", "id", "exception"),
    ):
        first: dict[str, int] = {}
        for i, item in _items(data, section):
            name = item.get(field)
            if not isinstance(name, str):
                continue
            if name in first:
                node = walk(root, section, i, field) or root
                yield (
                    *mark(node),
                    f"duplicate {kind} {field} {name!r} ({section}[{first[name]}] has it too): "
                    "reasons and audit records name it, so it must be unique; rename one",
                )
            first.setdefault(name, i)


def _rules(
    root: Node, data: dict[Any, Any], lines: list[str], compiled: list[CompiledRule]
) -> Iterator[tuple[int, int, str]]:
    """Compile every rule that passes the schema, appending each to ``compiled``; locate CEL
    errors inside ``when:``."""
    for i, item in _items(data, "rules"):
        try:
            rule = validate(item, Rule)
        except SchemaError:
            continue  # reported by the document's validation
        try:
            compiled.append(compile_rule(rule))
        except RuleCompileError as exc:
            when = walk(root, "rules", i, "when")
            if when is None:
                yield (*mark(walk(root, "rules", i) or root), str(exc))
                continue
            line, column = exc.line, exc.column
            if (line, column) == (1, 1):
                line, column = _name_position(rule.when, str(exc))
            yield (*scalar_position(when, line, column, lines), str(exc))


def _name_position(expression: str, message: str) -> tuple[int, int]:
    """Where the first unknown variable or signal field appears in the expression."""
    pattern = None
    if m := re.search(_UNKNOWN_NAMES, message):
        name = m.group(1).split(",")[0].strip()
        pattern = re.compile(rf"(?<![\w.]){re.escape(name)}\b")
    elif m := re.search(_UNKNOWN_FIELDS, message):
        name = m.group(1).split(",")[0].strip()
        pattern = re.compile(rf"(?<=\.)\s*{re.escape(name)}\b")
    hit = pattern.search(expression) if pattern else None
    if hit is None:
        return 1, 1
    offset = hit.start() + len(hit.group()) - len(hit.group().lstrip())
    line = expression.count("\n", 0, offset) + 1
    return line, offset - (expression.rfind("\n", 0, offset) + 1) + 1


def _references(root: Node, data: dict[Any, Any]) -> Iterator[tuple[int, int, str]]:
    envs = data.get("environments")
    if isinstance(envs, dict):
        yield from _environment_references(root, data, sorted(str(k) for k in envs))
    yield from _asset_kinds(root, data)


def _environment_references(
    root: Node, data: dict[Any, Any], known: list[str]
) -> Iterator[tuple[int, int, str]]:
    hint = f"; known: {', '.join(known)}" if known else ""
    for section, noun in (("rules", "rule"), ("freezes", "freeze")):
        for i, entry in _items(data, section):
            names = entry.get("environments")
            for j, env in enumerate(names if isinstance(names, list) else []):
                if isinstance(env, str) and env not in known:
                    node = walk(root, section, i, "environments", j) or root
                    yield (
                        *mark(node),
                        f"{dotted([section, i, 'environments', j])}: {noun} "
                        f"{entry.get('name')!r} names unknown environment {env!r}{hint}",
                    )
    for i, exc in _items(data, "exceptions"):
        target = exc.get("target")
        env = target.get("environment") if isinstance(target, dict) else None
        if isinstance(env, str) and env not in known:
            node = walk(root, "exceptions", i, "target", "environment") or root
            yield (
                *mark(node),
                f"exceptions[{i}].target.environment: exception {exc.get('id')!r} names "
                f"unknown environment {env!r}{hint}",
            )


def _asset_kinds(root: Node, data: dict[Any, Any]) -> Iterator[tuple[int, int, str]]:
    kinds = [k.value for k in AssetKind]
    for i, s in _items(data, "suppressions"):
        asset = s.get("asset")
        if isinstance(asset, str) and (
            ":" not in asset or asset.partition(":")[0].lower() not in kinds
        ):
            node = walk(root, "suppressions", i, "asset") or root
            yield (
                *mark(node),
                f"suppressions[{i}].asset: suppression {s.get('name')!r} has asset {asset!r}; "
                f"write kind:pattern with kind one of {', '.join(kinds)} (e.g. host:web-*)",
            )
