"""RFC 8785 canonical JSON, fast: the same bytes as ``rfc8785.dumps``, several times quicker.

Every audit record is canonicalized once when appended and once per ``verify``, and a record
holds a whole snapshot (tens of KiB), so the pure-Python ``rfc8785`` encoder was most of an
append's cost. For the values decisions are made of, Python's C JSON encoder with sorted keys,
no whitespace and ``ensure_ascii=False`` already writes RFC 8785, except in three places:

* floats: ES6 (RFC 8785 §3.2.2.3) writes ``3`` for ``3.0`` and switches to exponents at other
  magnitudes than Python's ``repr``. Integral floats below 2**53 are written as integers; other
  floats in [1e-4, 1e16) print the same shortest round-trip digits in both; anything else
  (tiny, huge, NaN) falls back to ``rfc8785``;
* key order: UTF-16 code units, not code points; they differ only around non-BMP characters,
  so output holding any 4-byte UTF-8 sequence falls back;
* domain checks (integers beyond 2**53, surrogates, non-string keys): left to ``rfc8785``, by
  falling back when any is seen.

``tests/unit/store/test_store_canonical.py`` checks byte equality against ``rfc8785`` on
generated JSON values, so a divergence is a failing test, never a silently different hash.
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

_SAFE_INT = 2**53 - 1
_FOUR_BYTE_UTF8 = re.compile(rb"[\xf0-\xf4]")
_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode


class _Fallback(Exception):  # noqa: N818 - a control-flow signal, not an error
    pass


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of a JSON value (dicts with str keys, lists, str, int, float, bool, None)."""
    try:
        text = _encode(_es6_numbers(value))
        data = text.encode("utf-8")
    except (_Fallback, ValueError, TypeError, UnicodeEncodeError):
        return bytes(rfc8785.dumps(value))
    if _FOUR_BYTE_UTF8.search(data):
        return bytes(rfc8785.dumps(value))
    return data


def _es6_numbers(node: Any) -> Any:
    # Strings are most leaves of a record: pass them through without a call.
    kind = type(node)
    if kind is dict:
        for key in node:
            if type(key) is not str:
                raise _Fallback
        return {k: v if type(v) is str else _es6_numbers(v) for k, v in node.items()}
    if kind is list or kind is tuple:
        return [v if type(v) is str else _es6_numbers(v) for v in node]
    if kind is float:
        magnitude = abs(node)
        if node.is_integer():
            if magnitude <= _SAFE_INT:
                return int(node)
            raise _Fallback
        if 1e-4 <= magnitude < 1e16:
            return node
        raise _Fallback
    if kind is int:
        if -_SAFE_INT <= node <= _SAFE_INT:
            return node
        raise _Fallback
    if kind is str or node is None or kind is bool:
        return node
    raise _Fallback  # enums, subclasses, anything unusual: let rfc8785 decide
