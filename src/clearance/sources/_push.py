"""Reading pushed payloads and export files into items, for the push normalizers (Falco, OCSF).

A body is one JSON value (an object or a list of objects) or JSON Lines. Each item keeps where it
came from (``body[3]``, ``line 7``) and its digest, so a bad item is quarantined by name and
position while its neighbours are used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from clearance.sources._mapping import canonical_bytes, parse_json
from clearance.sources.interface import Quarantined, payload_digest

__all__ = ["Item", "read_items"]


class Item:
    """One vendor item: the parsed value, where it was, and the bytes its digest covers.

    ``raw`` (sorted-key JSON, so the digest survives a producer reordering keys) and ``digest``
    are computed on first use: a folded Falco event that is not the latest never needs them.
    """

    __slots__ = ("_raw", "location", "value")

    def __init__(self, value: Any, location: str, raw: bytes | None = None) -> None:
        self.value = value
        self.location = location
        self._raw = raw

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = _canonical(self.value, b"")
        return self._raw

    @property
    def digest(self) -> str:
        return payload_digest(self.raw)

    def quarantine(self, source: str, reason: str, detail: str) -> Quarantined:
        # A detail can quote the item (a 100,000-character value, say): keep it readable.
        return Quarantined(
            source, reason, _short(detail, 500), self.digest, self.location, self.raw
        )


TOO_DEEP = "the item is nested too deep to read (a value holding hundreds of levels)"


def read_items(
    data: bytes, *, source: str, location: str, list_keys: tuple[str, ...] = ()
) -> tuple[list[Item], list[Quarantined]]:
    """Split a body into items. JSON Lines are tried only when the whole body is not JSON; a
    line that is not JSON is quarantined as ``invalid_json`` with its line number. An object
    holding its items under one of ``list_keys`` (a response page) yields those items."""
    where = location or "body"
    if _json_lines(data):
        return _lines(data, source, where)
    try:
        parsed = parse_json(data)
    except ValueError:
        return _lines(data, source, where)
    if isinstance(parsed, dict):
        for key in list_keys:
            if isinstance(parsed.get(key), list):
                return list(_elements(parsed[key], f"{where}: {key}")), []
        return [Item(parsed, where)], []
    if isinstance(parsed, list):
        return list(_elements(parsed, where)), []
    detail = f"expected a JSON object, a list of objects or JSON Lines, got {type(parsed).__name__}"
    return [], [Quarantined(source, "invalid_shape", detail, payload_digest(data), where, data)]


def _elements(values: list[Any], where: str) -> Iterator[Item]:
    for index, value in enumerate(values):
        yield Item(value, f"{where}[{index}]")


def _canonical(value: Any, fallback: bytes) -> bytes:
    try:
        return canonical_bytes(value)
    except (TypeError, ValueError, RecursionError):  # pragma: no cover - parsed JSON re-encodes
        return fallback


def _json_lines(data: bytes) -> bool:
    """Whether the body is JSON Lines, known without parsing all of it as one value first: a
    complete JSON value followed by more than whitespace can only be JSON Lines, and parsing a
    large file as one value only to fail at line 2 cost a fifth of orjson's time again."""
    first, _, rest = data.partition(b"\n")
    if not rest.strip():
        return False
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return True


def _lines(data: bytes, source: str, where: str) -> tuple[list[Item], list[Quarantined]]:
    items: list[Item] = []
    bad: list[Quarantined] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line or line.isspace():  # what strip() would empty, without the copy
            continue
        at = f"{where}: line {number}"
        try:
            value = parse_json(line)
        except ValueError as exc:
            detail = f"line {number} is not JSON: {_short(str(exc))}"
            bad.append(Quarantined(source, "invalid_json", detail, payload_digest(line), at, line))
            continue
        items.append(Item(value, at))
    return items, bad


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
