"""Validation of Clearance's own documents by msgspec, reporting every problem found.

``clearance.yaml``, the policy and the built-in file source's and static inventory's settings
are msgspec ``Struct`` types: msgspec validates them in C and imports in a few milliseconds,
where pydantic's import and model builds were most of a local ``check`` (docs/benchmarks.md).
Everything else (the service's request bodies, the vendor sources' settings) stays pydantic.

A valid document costs one :func:`msgspec.convert`. msgspec stops at the first problem, so a
document it rejects is validated again part by part (each field of each struct, each item of
each list and mapping, each by msgspec) to report every problem at once, in pydantic's error
shape (``type``, ``loc``, ``msg``, ``input``, ``ctx``): :mod:`clearance.policy.locate` turns
those into lines and columns. The parts' own checks (``__post_init__``) run once the parts
inside them are valid, as pydantic's ``model_validator(mode="after")`` did.

Custom scalar types (a duration, a time of day, :class:`Moment`) define ``validate``: the decode
hook calls it, and its ValueError (a check's message) or TypeError (a wrong value's) becomes
the error at that field.
"""

from __future__ import annotations

import enum
import re
import types
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import msgspec

T = TypeVar("T")

# msgspec's messages, read only for a rejected document: patterns compiled on first use (re
# caches them), not at import on every check's path.
_AT = r"(?s)^(?P<msg>.*) - at `(?P<path>[^`]*)`(?: in `(?P<inside>[^`]*)`)?$"
_BOUND = r"^Expected `(\w+)` (>=|<=|>|<) (\S+)$"
_LENGTH = r"^Expected `(\w+)` of length (>=|<=) (\d+)$"
_PATTERN = r"^Expected `str` matching regex (.+)$"
_TYPE = r"^Expected `([^`]+)`, got `([^`]+)`$"

# msgspec's type names → what pydantic said (the wording users, docs and tests know).
_EXPECTED = {
    "int": ("int_type", "Input should be a valid integer"),
    "float": ("float_type", "Input should be a valid number"),
    "str": ("string_type", "Input should be a valid string"),
    "bool": ("bool_type", "Input should be a valid boolean"),
    "object": ("dict_type", "Input should be a valid dictionary"),
    "array": ("list_type", "Input should be a valid list"),
    "datetime": ("datetime_type", "Input should be a valid datetime"),
}
_BOUNDS = {
    ">": ("greater_than", "greater than"),
    ">=": ("greater_than_equal", "greater than or equal to"),
    "<": ("less_than", "less than"),
    "<=": ("less_than_equal", "less than or equal to"),
}
_NOUNS = {
    "str": ("String", "character"),
    "array": ("List", "item"),
    "object": ("Dictionary", "item"),
}


class SchemaError(ValueError):
    """A document msgspec rejected, with every problem found (pydantic's error shape)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        lines = [f"{'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}" for e in errors]
        super().__init__("\n".join(lines))
        self.list = errors

    def errors(self) -> list[dict[str, Any]]:
        return self.list


class Moment(datetime):
    """A point in time as pydantic read one: a YAML timestamp, an ISO 8601 text (seconds and
    offset optional: ``2026-10-24T18:00``), a date alone (its midnight) or Unix seconds. msgspec
    itself reads RFC 3339 only. A struct keeps it as a plain datetime (:func:`plain_times`):
    serializers refuse subclasses."""

    __slots__ = ()

    @classmethod
    def validate(cls, value: object) -> Moment:
        """The moment ``value`` names; TypeError (reported as the field's error) if none."""
        try:
            if isinstance(value, datetime):
                moment = value
            elif isinstance(value, date):
                moment = datetime(value.year, value.month, value.day)
            elif isinstance(value, str):
                moment = datetime.fromisoformat(value.strip().upper())
            elif isinstance(value, int | float) and not isinstance(value, bool):
                # As pydantic: beyond 2e10 the number is milliseconds, not seconds.
                seconds = value / 1000 if abs(value) > 2e10 else value
                moment = datetime.fromtimestamp(seconds, UTC)
            else:
                raise TypeError("Input should be a valid datetime")
        except (ValueError, OverflowError, OSError):
            raise TypeError("Input should be a valid datetime") from None
        return cls.combine(moment.date(), moment.timetz())


def plain_times(struct: msgspec.Struct, *names: str) -> None:
    """Replace each named :class:`Moment` field of ``struct`` by the plain datetime it is
    (called from ``__post_init__``; msgspec requires the hook's result to be a Moment)."""
    for name in names:
        value = getattr(struct, name)
        if isinstance(value, Moment):
            plain = datetime.combine(value.date(), value.timetz())
            msgspec.structs.force_setattr(struct, name, plain)


class FieldError(ValueError):
    """Raised by a ``__post_init__`` about one of its fields: the error is reported there."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def validate(data: Any, tp: type[T]) -> T:
    """``data`` (YAML's values) as ``tp``, or :class:`SchemaError` listing every problem."""
    try:
        return msgspec.convert(data, tp, strict=False, dec_hook=_decode)
    except msgspec.ValidationError as exc:
        first = exc
    errors: list[dict[str, Any]] = []
    _collect(data, tp, (), errors)
    raise SchemaError(errors or [_error(first, data, tp, ())])


def first_error(exc: SchemaError) -> str:
    """``where: message`` of the first problem, as the configuration's errors are shown."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "document"
    return f"{where}: {err['msg']}"


def _decode(tp: Any, value: Any) -> Any:
    if tp is Path:
        if isinstance(value, str):
            return Path(value)
        raise TypeError("Input is not a valid path")
    check = getattr(tp, "validate", None)
    if isinstance(tp, type) and issubclass(tp, str | Moment) and check is not None:
        return check(value)
    # A schema field of a type nothing here decodes is a bug in the schema, not in the
    # document: msgspec passes anything but TypeError/ValueError through, so it surfaces as is.
    raise NotImplementedError(f"no decoder for {tp!r}")


def _collect(value: Any, tp: Any, loc: tuple[Any, ...], errors: list[dict[str, Any]]) -> None:
    """Append the problems of ``value`` as ``tp`` at ``loc``: the parts' first, then (if the
    parts are valid) the whole's: its own constraints and checks."""
    before = len(errors)
    base = _bare(tp)
    origin = get_origin(base)
    if isinstance(base, type) and issubclass(base, msgspec.Struct) and isinstance(value, dict):
        fields = msgspec.structs.fields(base)
        for field in fields:
            if field.encode_name in value:
                _collect(value[field.encode_name], field.type, (*loc, field.encode_name), errors)
            elif field.required:
                errors.append(
                    _problem("missing", (*loc, field.encode_name), "Field required", value)
                )
        if base.__struct_config__.forbid_unknown_fields:
            known = {f.encode_name for f in fields}
            for key in value:
                if key not in known:
                    where = (*loc, key)
                    errors.append(
                        _problem(
                            "extra_forbidden", where, "Extra inputs are not permitted", value[key]
                        )
                    )
    elif origin is dict and isinstance(value, dict):
        key_type, value_type = get_args(base)
        for key, item in value.items():
            if not _valid(key, key_type):
                errors.append(_choice_error(key, key_type, (*loc, key, "[key]")))
            else:
                _collect(item, value_type, (*loc, key), errors)
    elif origin is list and isinstance(value, list):
        (item_type,) = get_args(base)
        for i, item in enumerate(value):
            _collect(item, item_type, (*loc, i), errors)
    elif origin in (Union, types.UnionType):
        members = [m for m in get_args(base) if m is not type(None)]
        if value is None and len(members) < len(get_args(base)):
            return
        if len(members) == 1:
            _collect(value, members[0], loc, errors)
    if len(errors) == before:
        try:
            msgspec.convert(value, tp, strict=False, dec_hook=_decode)
        except msgspec.ValidationError as exc:
            errors.append(_error(exc, value, tp, loc))


def _valid(value: Any, tp: Any) -> bool:
    try:
        msgspec.convert(value, tp, strict=False, dec_hook=_decode)
    except msgspec.ValidationError:
        return False
    return True


def _bare(tp: Any) -> Any:
    """``tp`` without ``Annotated[...]`` (its constraints are checked on the whole)."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _problem(
    kind: str, loc: tuple[Any, ...], msg: str, value: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    error = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx is not None:
        error["ctx"] = ctx
    return error


def _choices(tp: Any) -> list[Any] | None:
    """The values a Literal or an enum allows (of ``X | None``: of X), else None."""
    base = _bare(tp)
    if get_origin(base) in (Union, types.UnionType):
        members = [m for m in get_args(base) if m is not type(None)]
        base = _bare(members[0]) if len(members) == 1 else base
    if get_origin(base) is Literal:
        return list(get_args(base))
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return [m.value for m in base]
    return None


def _choice_error(value: Any, tp: Any, loc: tuple[Any, ...]) -> dict[str, Any]:
    allowed = [repr(c) for c in _choices(tp) or []]
    if not allowed:
        return _problem("value_error", loc, "Input is not valid here", value)
    expected = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " or " + allowed[-1]
    ctx = {"expected": expected}
    return _problem("literal_error", loc, f"Input should be {expected}", value, ctx)


def _error(
    exc: msgspec.ValidationError, value: Any, tp: Any, loc: tuple[Any, ...]
) -> dict[str, Any]:
    """One msgspec error about ``value`` (at ``loc``) in pydantic's shape."""
    cause = exc.__cause__
    if isinstance(cause, TypeError):  # a value of the wrong type for a custom scalar
        return _problem("type_error", loc, str(cause), value)
    if isinstance(cause, ValueError):  # a check's: prefixed, as pydantic did
        if isinstance(cause, FieldError):
            loc = (*loc, cause.field)
            value = value.get(cause.field) if isinstance(value, dict) else value
        return _problem("value_error", loc, f"Value error, {cause}", value)
    match = re.match(_AT, str(exc))
    text = match.group("msg") if match else str(exc)
    path = (match.group("inside") or match.group("path")) if match else "$"
    loc = (*loc, *_path(path))
    if _choices(tp) is not None and (text.startswith(("Invalid enum value", "Expected `"))):
        return _choice_error(value, tp, loc)
    if m := re.match(_TYPE, text):
        kind, msg = _EXPECTED.get(m.group(1).split(" | ")[0], ("type_error", text))
        return _problem(kind, loc, msg, value)
    if m := re.match(_BOUND, text):
        kind, words = _BOUNDS[m.group(2)]
        bound = m.group(3).removesuffix(".0")
        return _problem(kind, loc, f"Input should be {words} {bound}", value)
    if m := re.match(_LENGTH, text):
        noun, unit = _NOUNS.get(m.group(1), ("Value", "item"))
        least = m.group(2) == ">="
        count = int(m.group(3))
        plural = unit if count == 1 else unit + "s"
        words = f"at least {count} {plural}" if least else f"at most {count} {plural}"
        return _problem(
            "too_short" if least else "too_long", loc, f"{noun} should have {words}", value
        )
    if m := re.match(_PATTERN, text):
        return _problem(
            "string_pattern_mismatch", loc, f"String should match pattern {m.group(1)}", value
        )
    if text.startswith("Invalid RFC3339"):
        return _problem(
            "datetime_from_date_parsing", loc, "Input should be a valid datetime", value
        )
    return _problem("value_error" if "Value error" in text else "invalid", loc, text, value)


def _path(path: str) -> list[Any]:
    """``$.rules[0].when`` → ``["rules", 0, "when"]``; a mapping's key msgspec does not name
    (``[...]``) ends the path: the caller's location is the closest known."""
    parts: list[Any] = []
    for name, index in re.findall(r"\.(\w+)|\[(\d+|\.\.\.)\]", path.removeprefix("$")):
        if index == "...":
            break
        parts.append(int(index) if index else name)
    return parts
