"""The decision log's guarantees, checked: ``verify`` the hash chain and ``export`` it.

Records are appended by :meth:`clearance.store.interface.Store.append_decision` (sealing is in
:mod:`clearance.store.chain`); replaying one is :mod:`clearance.audit.replay`.

``verify`` walks the chain in seq order and stops at the first broken record, saying how it
broke:

* ``edited`` — the stored body no longer hashes to its hash, or a filter column disagrees with
  the sealed body;
* ``deleted`` — a gap in seq, or the head row says records existed past the last one;
* ``reordered`` — a record sealed at one position is found at another;
* ``unlinked`` — the record's ``prev_hash`` is not the previous record's hash (the previous record
  was rewritten and re-hashed, or a record was spliced in).

Exporting the log (and verifying an export without the database) is :mod:`clearance.audit.export`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from clearance.model.canonical import canonical_json
from clearance.model.signal import format_time, parse_time
from clearance.store.chain import body_hash
from clearance.store.decisions import RawRow, chain_head, first_row_past_head, raw_rows
from clearance.store.interface import GENESIS_HASH
from clearance.store.sql import SqlStore


class Break(StrEnum):
    EDITED = "edited"
    DELETED = "deleted"
    REORDERED = "reordered"
    UNLINKED = "unlinked"
    REDACTED = "redacted"  # an exported record with redactions cannot be re-hashed


@dataclass(frozen=True, slots=True)
class BrokenRecord:
    seq: int
    decision_id: str | None
    kind: Break
    detail: str

    def __str__(self) -> str:
        name = f"seq {self.seq}" + (f" ({self.decision_id})" if self.decision_id else "")
        return f"record {name} {self.kind.value}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    records: int  # records checked before the first break (all of them when intact)
    head_seq: int
    head_hash: str
    broken: BrokenRecord | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(store: SqlStore) -> VerifyResult:
    """Walk the whole chain; name the first broken record, or confirm every record.

    Safe on a live log: the walk stops at the head read when it starts, and records appended
    meanwhile are left for the next run.
    """
    head_seq, head_hash = chain_head(store.db)
    expected, prev_hash, checked = 1, GENESIS_HASH, 0
    for row in raw_rows(store.db, upto=head_seq):
        broken = _check(row, expected, prev_hash)
        if broken is not None:
            return VerifyResult(checked, expected - 1, prev_hash, broken)
        checked += 1
        expected, prev_hash = row.seq + 1, row.hash
    last = expected - 1

    def broken_at(seq: int, kind: Break, detail: str) -> VerifyResult:
        return VerifyResult(checked, last, prev_hash, BrokenRecord(seq, None, kind, detail))

    if head_seq > last:
        missing = f"seq {last + 1}" if head_seq == last + 1 else f"seq {last + 1}..{head_seq}"
        return broken_at(
            last + 1,
            Break.DELETED,
            f"{missing} missing at the end of the log (the chain head says seq {head_seq})",
        )
    if head_hash != prev_hash:
        return broken_at(
            last,
            Break.EDITED,
            f"the chain head ({head_hash[:12]}…) does not match the last record's hash "
            f"({prev_hash[:12]}…)",
        )
    stray = first_row_past_head(store.db)
    if stray is not None:
        return broken_at(
            stray, Break.UNLINKED, "it lies past the chain head: no append sealed it there"
        )
    return VerifyResult(checked, last, prev_hash, None)


def _check(row: RawRow, expected: int, prev_hash: str) -> BrokenRecord | None:
    def broken(kind: Break, detail: str) -> BrokenRecord:
        return BrokenRecord(row.seq, row.decision_id, kind, detail)

    if row.seq > expected:
        missing = f"seq {expected}" if row.seq == expected + 1 else f"seq {expected}..{row.seq - 1}"
        return BrokenRecord(row.seq, row.decision_id, Break.DELETED, f"{missing} missing before it")
    try:
        body = json.loads(row.record)
        if not isinstance(body, dict):
            return broken(Break.EDITED, "the stored body is not a JSON object")
        digest = body_hash(canonical_json(body))
    except ValueError as exc:
        return broken(Break.EDITED, f"the stored body is not valid JSON ({exc})")
    if digest != row.hash:
        return broken(
            Break.EDITED,
            f"its content no longer matches its hash (sealed {row.hash[:12]}…, now {digest[:12]}…)",
        )
    if body.get("seq") != row.seq:
        return broken(
            Break.REORDERED, f"it was sealed as seq {body.get('seq')} but sits at seq {row.seq}"
        )
    if body.get("prev_hash") != prev_hash or row.prev_hash != prev_hash:
        return broken(
            Break.UNLINKED,
            f"its prev_hash {str(body.get('prev_hash'))[:12]}… is not the previous record's "
            f"hash {prev_hash[:12]}… (the previous record was rewritten, or this one inserted)",
        )
    return _check_columns(row, body, broken)


def _check_columns(row: RawRow, body: dict[str, Any], broken: Any) -> BrokenRecord | None:
    """The filter columns are copies of the sealed body; a copy that differs was edited."""
    decision = body.get("decision") or {}
    target = decision.get("target") or {}
    sealed: dict[str, Any] = {
        "decision_id": body.get("decision_id"),
        "at": body.get("at"),
        "environment": target.get("environment"),
        "verdict": decision.get("verdict"),
        "policy_digest": body.get("policy_digest"),
        "actor": (target.get("change") or {}).get("actor"),
        "target_key": "/".join(
            str(target.get(part)) for part in ("cluster", "namespace", "workload")
        ),
    }
    stored: dict[str, Any] = {
        "decision_id": row.decision_id,
        "at": format_time(row.at),
        "environment": row.environment,
        "verdict": row.verdict,
        "policy_digest": row.policy_digest,
        "actor": row.actor,
        "target_key": row.target_key,
    }
    if isinstance(sealed["at"], str):
        sealed["at"] = format_time(parse_time(sealed["at"]))
    for name, value in sealed.items():
        if stored[name] != value:
            result: BrokenRecord = broken(
                Break.EDITED,
                f"column {name} says {stored[name]!r} but the sealed record says {value!r}",
            )
            return result
    return None
