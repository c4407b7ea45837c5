"""Pages of vendor items, shared by every pull source's mapping and file normalizer: one loop that
maps a page and quarantines what it cannot use, one way to read an export file, one way to find a
page's newest update time, one check of a stored time watermark.

Pure: no network, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from clearance.errors import InvalidAssetError, InvalidSignalError, SourceError
from clearance.model.signal import Signal, format_time, parse_time
from clearance.sources._mapping import (
    RejectedError,
    canonical_bytes,
    parse_json,
    validation_detail,
)
from clearance.sources.interface import Quarantined, payload_digest

__all__ = [
    "checked_watermark",
    "map_page",
    "newest_time",
    "quarantine_file",
    "read_items",
]

_Mapper = Callable[[dict[str, Any], str], Signal]


def map_page(
    items: Sequence[Any],
    map_one: _Mapper,
    *,
    source: str,
    location: str,
    expected: str = "an object",
) -> tuple[list[Signal], list[Quarantined]]:
    """Map each item with ``map_one(item, raw_digest)``; an item it rejects (RejectedError, a
    pydantic ValidationError, an invalid signal or asset) is quarantined with its reason and
    sha256 digest, and never costs its neighbours. ``expected`` names what a non-object item
    should have been (``invalid_item: expected <expected>, got list``)."""
    signals: list[Signal] = []
    quarantined: list[Quarantined] = []
    for index, item in enumerate(items):
        raw = canonical_bytes(item)
        digest = payload_digest(raw)
        reason, detail = "", ""
        try:
            if not isinstance(item, dict):
                raise RejectedError(
                    "invalid_item", f"expected {expected}, got {type(item).__name__}"
                )
            signals.append(map_one(item, digest))
            continue
        except RejectedError as exc:
            reason, detail = exc.reason, exc.detail
        except ValidationError as exc:
            reason, detail = "invalid_field", validation_detail(exc)
        except (InvalidSignalError, InvalidAssetError) as exc:
            reason, detail = "invalid_value", str(exc)
        quarantined.append(Quarantined(source, reason, detail, digest, f"{location}[{index}]", raw))
    return signals, quarantined


def quarantine_file(
    source: str, reason: str, detail: str, data: bytes, location: str, *, keep: int | None = None
) -> Quarantined:
    """A whole file that holds no items, quarantined as one entry; ``keep`` caps the bytes kept."""
    payload = data if keep is None else data[:keep]
    return Quarantined(source, reason, detail, payload_digest(data), location, payload)


def read_items(
    data: bytes, *, source: str, location: str, keys: Sequence[str]
) -> tuple[list[Any], str, Quarantined | None]:
    """The items of an export file: a JSON list, an API response page holding its list under
    one of ``keys``, or JSON Lines. Returns ``(items, where, problem)``; a file that is none of
    these is one quarantined entry (``invalid_json`` or ``invalid_shape``)."""
    where = location or "file"
    try:
        parsed = parse_json(data)
    except ValueError:
        lines = [line for line in data.splitlines() if line.strip()]
        if len(lines) > 1:  # JSON Lines: a bad line is an item to quarantine, not the file
            return [_line(line) for line in lines], f"{where}: line", None
        return [], where, quarantine_file(source, "invalid_json", "not JSON", data, where)
    if isinstance(parsed, list):
        return parsed, where, None
    if isinstance(parsed, dict):
        for key in keys:
            if isinstance(parsed.get(key), list):
                return parsed[key], f"{where}: {key}", None
        return [parsed], where, None
    detail = f"expected a list of items or a response page, got {type(parsed).__name__}"
    return [], where, quarantine_file(source, "invalid_shape", detail, data, where)


def _line(line: bytes) -> Any:
    try:
        return parse_json(line)
    except ValueError:
        return line.decode("utf-8", "replace")


def newest_time(
    items: Iterable[Any], read: Callable[[dict[str, Any]], Any], current: str | None = None
) -> str | None:
    """The latest time ``read(item)`` finds among ``items`` (RFC 3339 UTC), or ``current``.

    Quarantined items count: they were received and kept, so the next fetch need not repeat
    them. A value that is not a readable time is passed over."""
    best = parse_time(current) if current else None
    for item in items:
        text = read(item) if isinstance(item, dict) else None
        if not isinstance(text, str):
            continue
        try:
            moment = parse_time(text)
        except InvalidSignalError:
            continue
        if best is None or moment > best:
            best = moment
    return None if best is None else format_time(best)


def checked_watermark(source: str, watermark: str | None) -> str | None:
    """A stored watermark is an RFC 3339 time this source wrote; anything else is refused."""
    if watermark is not None:
        try:
            parse_time(watermark)
        except InvalidSignalError as exc:
            raise SourceError(
                source, f"stored watermark {watermark!r} is not an RFC 3339 time (tip: reset it)"
            ) from exc
    return watermark
