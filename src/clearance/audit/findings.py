"""What ``audit verify`` finds: each problem named by kind, with where it is and what broke.

Chain breaks (the walk stops at the first)::

    edited      a stored body no longer hashes to its hash, or a filter column disagrees with it
    deleted     a gap in seq, or the head row says records existed past the last one
    reordered   a record sealed at one position is found at another
    unlinked    a record's prev_hash is not the previous record's hash
    redacted    an exported record with paths removed (it cannot be re-hashed)

Against the signed checkpoints::

    resealed    a checkpoint's head hash is not the hash of the record at its seq: the log up to
                there was rewritten and sealed again
    truncated   a checkpoint lies past the end of the log, or is in the external copy but was
                deleted from the database
    checkpoint  a checkpoint's signature does not verify, or names an unknown key
    stale       the latest checkpoint is older than the service writes them: possible truncation
    unanchored  no checkpoint signed by a given key covers the log

Against the tables (the state the chain's records say each row must have)::

    mismatch    a row differs from its latest record (an approver rewritten, a token re-enabled)
    missing     a recorded row is not in its table (a break-glass grant deleted)
    unrecorded  a row no record holds (inserted outside Clearance)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Break(StrEnum):
    EDITED = "edited"
    DELETED = "deleted"
    REORDERED = "reordered"
    UNLINKED = "unlinked"
    REDACTED = "redacted"
    RESEALED = "resealed"
    TRUNCATED = "truncated"
    CHECKPOINT = "checkpoint"
    STALE = "stale"
    UNANCHORED = "unanchored"
    MISMATCH = "mismatch"
    MISSING = "missing"
    UNRECORDED = "unrecorded"


_CHAIN_BREAKS = frozenset(
    {Break.EDITED, Break.DELETED, Break.REORDERED, Break.UNLINKED, Break.REDACTED}
)


@dataclass(frozen=True, slots=True)
class BrokenRecord:
    """One problem. ``record_id`` is the decision id, or the id of the approval, exception,
    grant, token or policy the record is about; ``seq`` the record it concerns, if one."""

    seq: int | None
    record_id: str | None
    kind: Break
    detail: str

    @property
    def decision_id(self) -> str | None:
        return self.record_id

    def __str__(self) -> str:
        if self.kind in _CHAIN_BREAKS and self.seq is not None:
            name = f"seq {self.seq}" + (f" ({self.record_id})" if self.record_id else "")
            return f"record {name} {self.kind.value}: {self.detail}"
        return f"{self.kind.value}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "seq": self.seq, "id": self.record_id, "detail": str(self)}


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``broken`` is the first chain break (the walk stops there); ``problems`` every other
    finding; ``notes`` what was checked and what could not be (no key given, an unanchored tail)."""

    records: int  # records checked before the first break (all of them when intact)
    head_seq: int
    head_hash: str
    broken: BrokenRecord | None
    problems: tuple[BrokenRecord, ...] = ()
    notes: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)  # records by kind

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.problems

    @property
    def findings(self) -> tuple[BrokenRecord, ...]:
        return ((self.broken,) if self.broken is not None else ()) + self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "counts": dict(sorted(self.counts.items())),
            "problems": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
        }
