"""Quarantined: a vendor item that could not be normalized, kept with the reason it was refused.

It lives with the model because every layer handles it: sources produce it, the store keeps it,
and decisions count it per source.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def payload_digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class Quarantined:
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
