"""Helpers shared by the vendor mappings (``falcon.mapping``, ``guardduty.mapping``): one way to
digest an item, one way to turn a vendor's identifiers into asset references, one way to band a
numeric score into a severity, one way to say why an item was quarantined."""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from clearance.errors import InvalidAssetError
from clearance.model.assets import AssetKind, AssetRef, asset
from clearance.model.signal import Severity

# A MITRE ATT&CK technique or sub-technique id (T1059, T1059.004). Vendors mix in their own ids
# (CrowdStrike's CST0002), which name no ATT&CK technique and are dropped.
ATTACK_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")


class RejectedError(Exception):
    """An item the mapping cannot use; ``reason`` is the quarantine code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def canonical_bytes(item: Any) -> bytes:
    """The item as sorted-key JSON: its digest survives the vendor reordering keys."""
    try:
        return orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits, which the standard library parser allows
        return json.dumps(item, sort_keys=True, separators=(",", ":"), default=str).encode()


def parse_json(data: bytes) -> Any:
    """Parse with orjson, falling back to the standard library for what orjson refuses but JSON
    allows (lone surrogate escapes); raises ValueError when it is not JSON at all."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ValueError(str(exc)) from exc


def banded(value: float, bands: Sequence[tuple[float, Severity]], below: Severity) -> Severity:
    """A vendor's numeric score as a severity: the first of ``bands`` (highest floor first)
    whose floor ``value`` reaches, else ``below``."""
    for floor, severity in bands:
        if value >= floor:
            return severity
    return below


def validation_detail(exc: ValidationError) -> str:
    """The first few field errors of a vendor item, ``path: message``."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])


def refs(pairs: Iterable[tuple[AssetKind, str | None]]) -> list[AssetRef]:
    """Normalize the values present. A malformed value is skipped and its neighbours kept; so is
    an address that names no machine (``0.0.0.0``, loopback), which would match unrelated ones."""
    found: list[AssetRef] = []
    for kind, value in pairs:
        if value and (ref := usable(kind, value)) is not None:
            found.append(ref)
    return found


# The same hosts recur across thousands of alerts; parsing an address each time was the largest
# cost of normalizing a Falcon page (bench/bench_falcon_sync.py).
@functools.lru_cache(maxsize=65536)
def usable(kind: AssetKind, value: str) -> AssetRef | None:
    """One non-empty value of :func:`refs`: its reference, or None when :func:`refs` skips it."""
    if not value.strip():
        return None
    try:
        ref = asset(kind, value)
    except InvalidAssetError:
        return None
    if kind is AssetKind.IP:
        address = ipaddress.ip_address(ref.value)
        if address.is_unspecified or address.is_loopback:
            return None
    return ref


def identity_group(found: Iterable[AssetRef]) -> dict[str, tuple[str, ...]]:
    """A ``Batch.identities`` group: each kind's normalized values, first seen first, once each."""
    group: dict[str, list[str]] = {}
    for ref in found:
        values = group.setdefault(ref.kind.value, [])
        if ref.value not in values:
            values.append(ref.value)
    return {kind: tuple(values) for kind, values in group.items()}
