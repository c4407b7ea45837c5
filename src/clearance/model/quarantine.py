"""Quarantined: a vendor item that could not be normalized, kept with the reason it was refused.

It lives with the model because every layer handles it: sources produce it, the store keeps it,
and decisions count it per source.
"""

from __future__ import annotations

import hashlib

import msgspec


def payload_digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class Quarantined(msgspec.Struct, frozen=True):
    """A vendor item that could not be normalized. Kept, counted, never silently dropped.

    ``reason`` is a short stable code (``invalid_json``, ``missing_field``, ``bad_asset``…) used as
    a metrics label; ``detail`` is the human sentence; ``location`` says where in the input it was
    (``line 7``, ``resources[3]``).
    """

    source: str
    reason: str
    detail: str
    digest: str
    location: str = ""
    payload: bytes = b""


class Retention(msgspec.Struct, frozen=True):
    """How much of what was refused a source keeps: the newest ``keep`` items, none older than
    ``max_age_seconds``. A bound, so that one hostile or broken push cannot grow the store
    without end; what it drops is counted (``GET /v1/sources``, ``/metrics``)."""

    keep: int = 10_000
    max_age_seconds: int = 30 * 24 * 3600

    def __post_init__(self) -> None:
        if self.keep < 1 or self.max_age_seconds < 1:
            raise ValueError("quarantine retention needs keep >= 1 and max_age > 0")


DEFAULT_RETENTION = Retention()
