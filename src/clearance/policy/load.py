"""Load a policy file; reject a bad one with every problem as ``file:line:col: message``.

The YAML is composed into nodes first (they carry positions), then validated by the pydantic
schema; each validation error's path is walked back through the nodes to the line and column
it came from. Unknown keys point at the key, bad values at the value, missing fields at the
mapping that lacks them. CEL rules are compiled here too, and their errors located inside the
``when:`` text.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from clearance.errors import PolicyError, Problem
from clearance.policy.compiled import Policy
from clearance.policy.rules import RuleCompileError, compile_rule
from clearance.policy.schema import POLICY_SCHEMA_VERSION, PolicyDocument


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PolicyError(
            [Problem(str(path), 1, 1, f"cannot read the policy: {exc.strerror}")]
        ) from exc
    return load_policy_text(text, str(path))


def load_policy_text(text: bytes | str, origin: str) -> Policy:
    raw = text.encode() if isinstance(text, str) else text
    root, data = _compose(raw, origin)
    problems: list[Problem] = []
    problems += _duplicate_keys(root, origin)
    if not isinstance(data, dict):
        raise PolicyError(
            [
                Problem(
                    origin,
                    *_mark(root),
                    "a policy is a mapping with schema_version, environments, scoring, …",
                )
            ]
        )
    if data.get("schema_version") != POLICY_SCHEMA_VERSION:
        node = _child(root, "schema_version") or root
        problems.append(
            Problem(
                origin,
                *_mark(node),
                f"schema_version must be {POLICY_SCHEMA_VERSION} "
                f"(got {data.get('schema_version')!r})",
            )
        )
    document: PolicyDocument | None = None
    try:
        document = PolicyDocument.model_validate(data)
    except ValidationError as exc:
        problems += [_locate(error, root, origin) for error in exc.errors()]
    if document is not None:
        problems += _rule_problems(document, root, origin, raw)
        problems += _reference_problems(document, root, origin)
    if problems:
        unique = sorted(set(problems), key=lambda p: (p.line, p.column, p.message))
        raise PolicyError(unique)
    assert document is not None
    return Policy.build(document, raw, origin)


def _compose(raw: bytes, origin: str) -> tuple[Node, Any]:
    try:
        root = yaml.compose(raw, Loader=yaml.SafeLoader)
        data = yaml.safe_load(raw)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise PolicyError(
            [Problem(origin, line, column, f"not valid YAML: {exc.problem or exc}")]
        ) from exc
    except yaml.YAMLError as exc:
        raise PolicyError([Problem(origin, 1, 1, f"not valid YAML: {exc}")]) from exc
    if root is None:
        raise PolicyError([Problem(origin, 1, 1, "the policy is empty")])
    return root, data


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _child(node: Node | None, key: str | int) -> Node | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == str(key):
                return v  # type: ignore[no-any-return]
    if isinstance(node, SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return node.value[key]  # type: ignore[no-any-return]
    return None


def _key_node(node: Node | None, key: str) -> Node | None:
    if isinstance(node, MappingNode):
        for k, _ in node.value:
            if isinstance(k, ScalarNode) and k.value == key:
                return k
    return None


def _locate(error: Any, root: Node, origin: str) -> Problem:
    loc = [
        p
        for p in error["loc"]
        if not (isinstance(p, str) and p.startswith(("function-", "literal[")))
    ]
    node: Node | None = root
    parent: Node | None = None
    for part in loc:
        parent, node = node, _child(node, part)
        if node is None:
            break
    where = ".".join(str(p) for p in loc) or "the document"
    kind = error["type"]
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        at = _key_node(parent, key) or parent or root
        message = f"unknown field {key!r}" + (
            f" in {'.'.join(str(p) for p in loc[:-1])}" if len(loc) > 1 else ""
        )
        allowed = _allowed_keys(loc[:-1])
        if close := difflib.get_close_matches(key, allowed, n=1):
            message += f"; did you mean {close[0]!r}?"
        return Problem(origin, *_mark(at), message)
    if kind == "missing":
        at = parent or root
        field = str(loc[-1]) if loc else "?"
        if len(loc) >= 2 and loc[-2] == "stances":
            message = (
                f"missing failure stance {field!r} in {'.'.join(str(p) for p in loc[:-1])}: "
                "every stance must be set (block, approve or proceed_with_warning); "
                "there is no default"
            )
        else:
            message = (
                f"missing field {field!r} in {'.'.join(str(p) for p in loc[:-1]) or 'the document'}"
            )
        return Problem(origin, *_mark(at), message)
    at = node or parent or root
    message = str(error["msg"]).removeprefix("Value error, ")
    return Problem(origin, *_mark(at), f"{where}: {message}")


def _allowed_keys(path: list[Any]) -> list[str]:
    """Field names valid at ``path`` in the schema, for 'did you mean' suggestions."""
    model: Any = PolicyDocument
    in_mapping = False  # the next path part is a user-chosen key (an environment's name)
    for part in path:
        if isinstance(part, int):
            continue
        if in_mapping:
            in_mapping = False
            continue
        field = model.model_fields.get(str(part)) if _is_model(model) else None
        if field is None:
            return []
        origin = getattr(field.annotation, "__origin__", None)
        args: tuple[Any, ...] = tuple(getattr(field.annotation, "__args__", ()))
        if origin is dict:
            in_mapping = True
            model = args[1] if len(args) == 2 else None
        elif origin is list:
            model = args[0] if args else None
        else:
            model = next((a for a in (*args, field.annotation) if _is_model(a)), None)
    return list(model.model_fields) if _is_model(model) else []


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _rule_problems(document: PolicyDocument, root: Node, origin: str, raw: bytes) -> list[Problem]:
    problems = []
    rules_node = _child(root, "rules")
    lines = raw.decode("utf-8", errors="replace").splitlines()
    for i, rule in enumerate(document.rules):
        try:
            compile_rule(rule)
        except RuleCompileError as exc:
            when = _child(_child(rules_node, i), "when")
            if when is None:
                line, column = _mark(_child(rules_node, i) or root)
            else:
                line, column = _cel_position(when, exc.line, exc.column, lines)
            problems.append(Problem(origin, line, column, str(exc)))
    return problems


def _cel_position(when: Node, line: int, column: int, lines: list[str]) -> tuple[int, int]:
    """Map a 1-based position inside a ``when:`` expression to the file.

    Plain and quoted scalars start where the node does. Block scalars (``|``, ``>``) start on
    the next line, indented; a folded (``>``) one joins its lines with spaces, so a column past
    the end of one line continues on the next.
    """
    start_line, start_column = _mark(when)
    style = when.style if isinstance(when, ScalarNode) else None
    if style not in ("|", ">"):
        quote = 1 if style in ("'", '"') else 0
        if line == 1:
            return start_line, start_column + quote + column - 1
        return start_line + line - 1, column
    content: list[tuple[int, int, str]] = []
    for number in range(start_line, len(lines)):  # 0-based index of the line after the indicator
        text = lines[number]
        if text.strip():
            indent = len(text) - len(text.lstrip())
            if content and indent < content[0][1]:
                break
            content.append((number + 1, indent, text.strip()))
        elif content:
            continue
    if not content:
        return start_line, start_column
    if style == "|":
        number, indent, _ = content[min(line, len(content)) - 1]
        return number, indent + column
    remaining = column
    for number, indent, text in content:
        if remaining <= len(text) + 1:
            return number, indent + remaining
        remaining -= len(text) + 1
    number, indent, text = content[-1]
    return number, indent + len(text) + 1


def _reference_problems(document: PolicyDocument, root: Node, origin: str) -> list[Problem]:
    known = set(document.environments)
    problems = []
    for i, rule in enumerate(document.rules):
        for j, env in enumerate(rule.environments or []):
            if env not in known:
                node = _child(_child(_child(_child(root, "rules"), i), "environments"), j) or root
                problems.append(
                    Problem(
                        origin,
                        *_mark(node),
                        f"rule {rule.name!r} names unknown environment {env!r}",
                    )
                )
    for i, exc in enumerate(document.exceptions):
        if exc.target.environment not in known:
            node = (
                _child(_child(_child(_child(root, "exceptions"), i), "target"), "environment")
                or root
            )
            problems.append(
                Problem(
                    origin,
                    *_mark(node),
                    f"exception {exc.id!r} names unknown environment {exc.target.environment!r}",
                )
            )
    kinds = {
        "host",
        "instance",
        "ip",
        "mac",
        "container",
        "pod",
        "namespace",
        "cluster",
        "image",
        "workload",
    }
    for i, s in enumerate(document.suppressions):
        if s.asset is not None and s.asset.partition(":")[0].lower() not in kinds:
            node = _child(_child(_child(root, "suppressions"), i), "asset") or root
            problems.append(
                Problem(
                    origin,
                    *_mark(node),
                    f"suppression {s.name!r}: asset {s.asset!r} must be kind:pattern "
                    f"with kind one of {', '.join(sorted(kinds))}",
                )
            )
    return problems


def _duplicate_keys(node: Node, origin: str) -> list[Problem]:
    """PyYAML keeps the last of two equal keys silently; a policy must not."""
    problems = []
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if isinstance(k, ScalarNode):
                if k.value in seen:
                    problems.append(
                        Problem(
                            origin,
                            *_mark(k),
                            f"duplicate key {k.value!r}: the later value would silently win",
                        )
                    )
                seen.add(k.value)
            problems += _duplicate_keys(v, origin)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            problems += _duplicate_keys(item, origin)
    return problems
