"""Positions in a composed YAML tree: from a validation error's path, or a CEL offset, to line:col.

PyYAML's composed nodes keep where each key and value started; validation errors (pydantic's
shape, from :mod:`clearance.validation`) keep the path (``loc``) of the field they are about.
Walking the path through the nodes gives the position a person needs. All positions are
1-based, like a compiler's.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from clearance.policy.schema import PolicyDocument

_QUOTED = r"'([^']*)'"  # only an error needs it: compiled on first use (re caches it)


def mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def child(node: Node | None, key: str | int) -> Node | None:
    """The value node at ``key`` (a mapping key, or a sequence index), or None."""
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == str(key):
                return v  # type: ignore[no-any-return]
    if isinstance(node, SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return node.value[key]  # type: ignore[no-any-return]
    return None


def key_node(node: Node | None, key: str) -> Node | None:
    if isinstance(node, MappingNode):
        for k, _ in node.value:
            if isinstance(k, ScalarNode) and k.value == key:
                return k
    return None


def walk(root: Node, *path: str | int) -> Node | None:
    node: Node | None = root
    for part in path:
        node = child(node, part)
    return node


def dotted(path: list[Any] | tuple[Any, ...]) -> str:
    """``rules[1].verdict``: how a person would name the place."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def error_position(error: Any, root: Node) -> tuple[int, int, str]:
    """Line, column and message for one validation error (a dict in pydantic's shape)."""
    loc = [
        p
        for p in error["loc"]
        if not (isinstance(p, str) and p.startswith(("function-", "literal[")))
    ]
    bad_key = "[key]" in loc  # a dict key outside its allowed set: point at the key
    loc = [p for p in loc if p != "[key]"]
    node: Node = root
    parent: Node = root
    found = True
    for part in loc:
        if (nxt := child(node, part)) is None:
            found = False
            break
        parent, node = node, nxt
    container = parent if found else node  # the mapping that holds (or lacks) the last part
    kind = error["type"]
    where = dotted(loc)
    if (kind == "extra_forbidden" or bad_key) and loc:
        key = str(loc[-1])
        at = key_node(container, key) or container
        inside = dotted(loc[:-1])
        message = f"unknown field {key!r}" + (f" in {inside}" if inside else "")
        choices = _choices(error) if bad_key else _allowed_keys(loc[:-1])
        return (*mark(at), message + _did_you_mean(key, choices, fallback=bad_key))
    if kind == "missing":
        field = str(loc[-1]) if loc else "?"
        inside = dotted(loc[:-1]) or "the document"
        if len(loc) >= 2 and loc[-2] == "stances":
            message = (
                f"missing failure stance {field!r} in {inside}: every stance must be set "
                "(block, approve or proceed_with_warning); there is no default"
            )
        else:
            message = (
                f"missing field {field!r} in {inside}; add it (docs/policy.md lists every field)"
            )
        return (*mark(container), message)
    at = node if found else container
    message = str(error["msg"]).removeprefix("Value error, ")
    got = error.get("input")
    if kind in ("enum", "literal_error") and isinstance(got, str):
        message += _did_you_mean(got, _choices(error))
    elif not kind.startswith(("value_error", "assertion")) and isinstance(got, str | int | float):
        message += f" (got {got!r})"
    return (*mark(at), f"{where}: {message}" if where else message)


def _choices(error: Any) -> list[str]:
    return re.findall(_QUOTED, str((error.get("ctx") or {}).get("expected", "")))


def _did_you_mean(word: str, choices: list[str], *, fallback: bool = False) -> str:
    import difflib  # noqa: PLC0415 - only a policy with errors needs it

    if close := difflib.get_close_matches(word, choices, n=1):
        return f"; did you mean {close[0]!r}?"
    if fallback and choices:
        return f"; expected one of {', '.join(choices)}"
    return ""


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
        fields = _fields(model)
        if str(part) not in fields:
            return []
        annotation = _bare(fields[str(part)])
        origin = get_origin(annotation)
        args: tuple[Any, ...] = get_args(annotation)
        if origin is dict:
            in_mapping = True
            model = _bare(args[1]) if len(args) == 2 else None
        elif origin is list:
            model = _bare(args[0]) if args else None
        elif origin is Union:
            model = next((a for a in map(_bare, args) if _fields(a)), None)
        else:
            model = annotation
    return list(_fields(model))


def _bare(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _fields(model: Any) -> dict[str, Any]:
    """A struct's field names and types; nothing for anything else."""
    if not (isinstance(model, type) and issubclass(model, msgspec.Struct)):
        return {}
    return {f.encode_name: f.type for f in msgspec.structs.fields(model)}


def scalar_position(node: Node, line: int, column: int, lines: list[str]) -> tuple[int, int]:
    """Map a 1-based position inside a scalar's value (a ``when:`` expression) to the file.

    The value is rebuilt from its physical lines: a literal block (``|``) keeps its lines, so
    the expression's line picks the file line; every other style (plain, quoted, folded ``>``)
    joins its lines with a space, so a column past the end of one line continues on the next.
    """
    style = node.style if isinstance(node, ScalarNode) else None
    segments = _segments(node, style, lines)
    if not segments:
        return mark(node)
    if style == "|":
        number, start, _ = segments[min(max(line, 1), len(segments)) - 1]
        return number, start + column - 1
    remaining = column
    for number, start, text in segments:
        if remaining <= len(text) + 1:
            return number, start + remaining - 1
        remaining -= len(text) + 1
    number, start, text = segments[-1]
    return number, start + len(text)


def _segments(node: Node, style: str | None, lines: list[str]) -> list[tuple[int, int, str]]:
    """(file line, column of its first character, text) for each line of a scalar's value."""
    first, last = node.start_mark.line, node.end_mark.line  # 0-based
    out: list[tuple[int, int, str]] = []
    if style in ("|", ">"):
        indent: int | None = None
        for number in range(first + 1, min(last + 1, len(lines))):
            text = lines[number]
            if not text.strip():
                continue
            here = len(text) - len(text.lstrip())
            indent = here if indent is None else indent
            if here < indent:
                break
            out.append((number + 1, indent + 1, text[indent:].rstrip()))
        return out
    quote = 1 if style in ("'", '"') else 0
    for number in range(first, min(last, len(lines) - 1) + 1):
        text = lines[number]
        if number == first:
            start = node.start_mark.column + quote
            end = node.end_mark.column - quote if last == first else len(text)
            out.append((number + 1, start + 1, text[start:end]))
        else:
            stripped = text.lstrip()
            start = len(text) - len(stripped)
            end = node.end_mark.column - quote if number == last else len(text)
            out.append((number + 1, start + 1, text[start:end].rstrip()))
    return out
