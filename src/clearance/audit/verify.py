"""The decision log's guarantees, checked: the hash chain, its signed checkpoints, the tables.

Records are sealed by the store (decisions by :mod:`clearance.store.chain`, approvals, exceptions,
break-glass, tokens and policies by :mod:`clearance.store.events`), into one chain. ``verify``:

1. walks the chain in seq order, both kinds of record merged, and stops at the first broken
   record (edited, deleted, reordered, unlinked: :mod:`clearance.audit.findings`);
2. compares each signed checkpoint with the record at its seq (:mod:`clearance.audit.anchoring`):
   a rewritten and re-sealed log, a truncated tail, a checkpoint deleted from the database but
   kept in the external copy, and a latest checkpoint older than the service writes them;
3. rebuilds from the records the state each approval, exception, grant, token and policy must
   have and compares it with the tables (:mod:`clearance.audit.state`).

It reads through the :class:`~clearance.store.interface.AuditLog` role only. Exporting the log
(and verifying an export without the database) is :mod:`clearance.audit.export`.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from typing import Any

from clearance.audit.anchoring import Anchoring, Anchors
from clearance.audit.findings import Break, BrokenRecord, VerifyResult
from clearance.audit.state import Ledger
from clearance.model.canonical import canonical_json
from clearance.model.signal import format_time, parse_time
from clearance.store.chain import body_hash
from clearance.store.interface import GENESIS_HASH, AuditLog, LogRow
from clearance.store.record_parts import missing as parts_missing

__all__ = ["Anchors", "Break", "BrokenRecord", "VerifyResult", "verify"]


def verify(log: AuditLog, anchors: Anchors | None = None) -> VerifyResult:
    """Check the whole log; name every problem found (the chain's first break, and the rest).

    Safe on a live log: the tables are read in one snapshot first, then the walk stops at the
    head read after it; records appended meanwhile are left for the next run.
    """
    anchors = anchors or Anchors()
    snapshot = log.trust_snapshot()
    anchoring = Anchoring(log.checkpoints(), anchors)
    ledger = Ledger(upto=snapshot.head_seq)
    head_seq, head_hash = log.chain_head()
    expected, prev_hash, checked = 1, GENESIS_HASH, 0
    counts: Counter[str] = Counter()
    anchoring.see(0, GENESIS_HASH)
    broken: BrokenRecord | None = None
    for row in log.log_rows(upto=head_seq):
        broken, body = _check(row, expected, prev_hash)
        if broken is not None:
            break
        anchoring.see(row.seq, row.hash)
        if row.table == "decisions":
            counts["decision"] += 1
            ledger.add_decision(str(row.columns["policy_digest"]))
        else:
            counts[str(body.get("kind"))] += 1
            ledger.add_record(row.seq, body)
        checked += 1
        expected, prev_hash = row.seq + 1, row.hash
    last = expected - 1
    if broken is None:
        broken = _check_head(log, head_seq, head_hash, last, prev_hash)
    anchoring.finish(last, walked_to_end=broken is None)
    problems = list(anchoring.problems)
    notes = list(anchoring.notes)
    if broken is None:
        problems.extend(ledger.compare(snapshot.rows))
    else:
        notes.append("tables not compared with the records: the chain is broken first")
    return VerifyResult(
        checked, last, prev_hash, broken, tuple(problems), tuple(notes), dict(counts)
    )


def _check_head(
    log: AuditLog, head_seq: int, head_hash: str, last: int, prev_hash: str
) -> BrokenRecord | None:
    if head_seq > last:
        missing = f"seq {last + 1}" if head_seq == last + 1 else f"seq {last + 1}..{head_seq}"
        return BrokenRecord(
            last + 1,
            None,
            Break.DELETED,
            f"{missing} missing at the end of the log (the chain head says seq {head_seq})",
        )
    if head_hash != prev_hash:
        return BrokenRecord(
            last,
            None,
            Break.EDITED,
            f"the chain head ({head_hash[:12]}…) does not match the last record's hash "
            f"({prev_hash[:12]}…)",
        )
    stray = log.first_row_past_head()
    if stray is not None:
        return BrokenRecord(
            stray, None, Break.UNLINKED, "it lies past the chain head: no append sealed it there"
        )
    return None


def _check(
    row: LogRow, expected: int, prev_hash: str
) -> tuple[BrokenRecord | None, dict[str, Any]]:
    record_id = row.columns.get("decision_id") or row.columns.get("object_id")

    def broken(kind: Break, detail: str) -> tuple[BrokenRecord, dict[str, Any]]:
        return BrokenRecord(row.seq, record_id, kind, detail), {}

    if row.seq > expected:
        missing = f"seq {expected}" if row.seq == expected + 1 else f"seq {expected}..{row.seq - 1}"
        return broken(Break.DELETED, f"{missing} missing before it")
    if row.seq < expected:
        return broken(Break.UNLINKED, f"a second record at seq {row.seq}")
    absent = parts_missing(row.record)
    if absent:
        return broken(
            Break.EDITED,
            f"a part of it stored apart (sha256 {absent[0][:12]}…) is missing or was altered",
        )
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
    sealed = _sealed_columns(row.table, body)
    for name, value in sealed.items():
        stored = row.columns.get(name)
        if name == "at" and stored is not None:
            stored = format_time(stored)
        if stored != value:
            return broken(
                Break.EDITED,
                f"column {name} says {stored!r} but the sealed record says {value!r}",
            )
    return None, body


def _sealed_columns(table: str, body: dict[str, Any]) -> dict[str, Any]:
    """The filter columns as the sealed body says they must be."""
    at = body.get("at")
    if isinstance(at, str):
        with contextlib.suppress(ValueError):  # else compared as written: the check names it
            at = format_time(parse_time(at))
    if table != "decisions":
        return {
            "kind": body.get("kind"),
            "object": body.get("object"),
            "object_id": body.get("id"),
            "at": at,
            "actor": body.get("actor"),
        }
    decision = body.get("decision") or {}
    target = decision.get("target") or {}
    return {
        "decision_id": body.get("decision_id"),
        "at": at,
        "environment": target.get("environment"),
        "verdict": decision.get("verdict"),
        "policy_digest": body.get("policy_digest"),
        "actor": (target.get("change") or {}).get("actor"),
        "target_key": "/".join(
            str(target.get(part)) for part in ("cluster", "namespace", "workload")
        ),
    }
