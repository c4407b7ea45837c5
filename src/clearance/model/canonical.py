"""RFC 8785 canonical JSON, fast: the same bytes as ``rfc8785.dumps``, many times quicker.

Every audit record is canonicalized once when appended and once per ``verify``, and a record
holds a whole snapshot (tens of KiB), so the pure-Python ``rfc8785`` encoder was most of an
append's cost. orjson with sorted keys writes RFC 8785 for JSON values (UTF-8 as is; only ``"``,
``\\`` and control characters escaped, the same way; no whitespace), except in these places,
each handled before or after encoding:

* floats: ES6 (RFC 8785 §3.2.2.3) writes ``3`` for ``3.0``. Integral floats within ±(2**53 - 1)
  are turned into ints first; larger ones fall back to ``rfc8785``. For other finite floats
  orjson writes the same shortest round-trip digits in the same notation, except that it switches
  to exponent form below 1e-5 where ES6 waits until 1e-6: floats under 1e-5 in magnitude fall
  back. NaN and infinities (which orjson would write as ``null``) fall back, and ``rfc8785``
  refuses them;
* key order: UTF-16 code units, not code points; they differ only around non-BMP characters,
  so output holding any 4-byte UTF-8 sequence falls back;
* the domain: anything but dicts with str keys, lists, tuples, str, int within ±(2**53 - 1),
  float, bool and None (subclasses included: enums, which orjson would write by value) falls
  back, so ``rfc8785`` accepts or refuses it exactly as before.

Checking the domain is one walk over the value, skipping strings (most leaves), that copies only
the containers holding an integral float. Dict keys are not walked: orjson refuses any key that
is not exactly a str, and the refusal falls back.

``tests/unit/store/test_store_canonical.py`` checks byte equality against ``rfc8785`` on
generated JSON values, records and floats, so a divergence (say, a new orjson formatting floats
differently) is a failing test, never a silently different hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
import rfc8785

_SAFE_INT = 2**53 - 1
_SMALLEST_FIXED = 1e-5  # orjson writes fixed notation from here up, as ES6 does
# STRICT_INTEGER repeats the walk's int check; the passthroughs make orjson refuse what the walk
# refuses anyway, should a value reach it unchecked.
_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_STRICT_INTEGER
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
_FOUR_BYTE_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")  # non-BMP characters in UTF-8


class _Fallback(Exception):  # noqa: N818 - a control-flow signal, not an error
    pass


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of a JSON value (dicts with str keys, lists, str, int, float, bool, None)."""
    try:
        data = orjson.dumps(_es6_numbers(value), option=_OPTIONS)
    except (_Fallback, orjson.JSONEncodeError):
        return bytes(rfc8785.dumps(value))
    # ``in`` with one byte is a memchr: far cheaper than a regex over tens of KiB.
    if not data.isascii() and any(lead in data for lead in _FOUR_BYTE_LEADS):
        return bytes(rfc8785.dumps(value))
    return data


def _es6_numbers(node: Any) -> Any:
    """``node`` with integral floats as ints; raises _Fallback outside the fast path's domain.

    Returns ``node`` itself when nothing changes (the usual case: only a decision's integral
    weights change), so most of a record costs one walk and no copies. A container with a
    changed member is rebuilt by walking it again, which is cheap next to copying as we go.
    Strings, most leaves of a record, are passed over without a call; dict keys are left to
    orjson, which refuses any key that is not exactly a str.
    """
    kind = type(node)
    if kind is dict:
        for item in node.values():
            if type(item) is not str and _es6_numbers(item) is not item:
                return {k: v if type(v) is str else _es6_numbers(v) for k, v in node.items()}
        return node
    if kind is list or kind is tuple:
        for item in node:
            if type(item) is not str and _es6_numbers(item) is not item:
                return [v if type(v) is str else _es6_numbers(v) for v in node]
        return node
    if kind is float:
        if node.is_integer():
            if -_SAFE_INT <= node <= _SAFE_INT:
                return int(node)  # -0.0 too: ES6 writes it as 0
            raise _Fallback
        if abs(node) >= _SMALLEST_FIXED and node - node == 0.0:  # x - x is NaN for inf and NaN
            return node
        raise _Fallback
    if kind is int:
        if -_SAFE_INT <= node <= _SAFE_INT:
            return node
        raise _Fallback
    if kind is str or node is None or kind is bool:
        return node
    raise _Fallback  # enums, subclasses, anything unusual: let rfc8785 decide


def canonical_members(data: dict[str, Any], known: dict[str, bytes]) -> bytes:
    """``canonical_json(data)``, taking the canonical bytes of the members named in ``known``
    as given (work kept from an earlier decision) rather than encoding those values again.

    RFC 8785 writes an object as its members sorted by key, each value canonical on its own, so
    splicing canonical values between canonical keys is the same bytes. Keys are sorted by
    UTF-16 code units, which is code-point order for ASCII keys (every key this is used with);
    any other key sends the whole object through :func:`canonical_json`.
    """
    if not all(key.isascii() for key in data):
        return canonical_json(data)
    members = [
        canonical_json(key) + b":" + (known[key] if key in known else canonical_json(data[key]))
        for key in sorted(data)
    ]
    return b"{" + b",".join(members) + b"}"


class Repeating(NamedTuple):
    """Canonical bytes that recur from one record to the next (an exposure's assets, the
    signals a target matched) and their sha256, hashed once per kept object: the decision log
    stores such bytes once, by digest (clearance.store.record_parts)."""

    data: bytes
    digest: str  # sha256 hex of ``data``

    @classmethod
    def of(cls, data: bytes) -> Repeating:
        return cls(data, hashlib.sha256(data).hexdigest())


# Canonical bytes as a sequence of pieces: their concatenation is the value's canonical JSON,
# the repeating parts kept apart so a writer can store them by reference without searching.
Pieces = Sequence[bytes | Repeating]


def member_pieces(data: dict[str, Any], known: Mapping[str, Pieces]) -> list[bytes | Repeating]:
    """:func:`canonical_members` as pieces, the members named in ``known`` given as pieces
    (concatenated, ``canonical_json`` of that member). A non-ASCII key: one piece, no part
    kept apart."""
    if not data or not all(key.isascii() for key in data):
        return [canonical_json(data)]
    pieces: list[bytes | Repeating] = []
    separator = b"{"
    for key in sorted(data):
        prefix = separator + canonical_json(key) + b":"
        separator = b","
        if key in known:
            pieces.append(prefix)
            pieces.extend(known[key])
        else:
            pieces.append(prefix + canonical_json(data[key]))
    pieces.append(b"}")
    return pieces


def joined_pieces(pieces: Iterable[bytes | Repeating]) -> bytes:
    """The canonical bytes that ``pieces`` stand for."""
    return b"".join(p if isinstance(p, bytes) else p.data for p in pieces)


def canonical_digest(value: Any) -> str:
    """``sha256:<hex>`` of a JSON value's canonical bytes: the same value, the same digest."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


def with_present(data: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """``data`` and each of ``optional`` that is not None, in the order given: an optional field
    left out of the JSON while unset, so records made before it existed keep their exact bytes."""
    for key, value in optional.items():
        if value is not None:
            data[key] = value
    return data
