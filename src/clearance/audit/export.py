"""Shipping the decision log: JSON Lines export, and verifying an export without the database.

``export`` streams every record of the chain in seq order: decisions in the shape of OPA's
decision log (one versioned event per line, ``decision_id`` and ``timestamp`` on top), and the
trust records (approvals, exceptions, break-glass, tokens, policies: ``kind``, ``object``,
``id``, ``actor``, ``state``), each with every redacted path listed in its ``redacted`` member.
Redaction happens after sealing, so a record exported with a redaction can be read but not
re-hashed; an unredacted one carries its ``hash`` and ``prev_hash``, and
:func:`verify_export` checks a whole export offline (an auditor needs the file, not the
database), and against the signed checkpoints when they are given. An export that starts after
seq 1 (``--since``) is anchored on its first record's ``prev_hash``: compare it with the hash
your previous export ended on.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from clearance.audit.anchoring import Anchoring, Anchors
from clearance.audit.findings import Break, BrokenRecord, VerifyResult
from clearance.model.canonical import canonical_json
from clearance.store.chain import body_hash
from clearance.store.interface import AuditLog, AuditRecord

# Paths removed from every export when present. Records hold identities, never credentials
# (see ``Caller``), so these are a guard against a future field, not a known leak.
DEFAULT_REDACT = (
    "caller.token",
    "caller.secret",
    "caller.password",
    "caller.authorization",
)

_EXPORT_ONLY = ("hash", "timestamp", "redacted")


def export(
    log: AuditLog,
    since: datetime | None = None,
    redact: Sequence[str] = DEFAULT_REDACT,
) -> Iterator[str]:
    """JSON Lines, oldest first, from ``since`` on; each line one record with ``redacted``."""
    for record in log.log_records(since=since):
        yield export_line(record, redact)


def export_line(
    record: AuditRecord | Mapping[str, Any], redact: Sequence[str] = DEFAULT_REDACT
) -> str:
    """One record (body and ``hash``) as an export line; a decision's line is what it always was."""
    data = copy.deepcopy(record.to_dict() if isinstance(record, AuditRecord) else dict(record))
    removed = [path for path in redact if _remove(data, path.split("."))]
    event = {
        **data,
        "timestamp": data["at"],  # OPA decision-log field names beside ours
        "redacted": sorted(set(removed)),
    }
    return canonical_json(event).decode("utf-8")


def _remove(node: Any, path: list[str]) -> bool:
    """Delete ``path`` under ``node`` (lists are walked element-wise); True if anything went."""
    if isinstance(node, list):
        hits = [_remove(item, path) for item in node]
        return any(hits)
    if not isinstance(node, dict) or not path or path[0] not in node:
        return False
    if len(path) == 1:
        del node[path[0]]
        return True
    return _remove(node[path[0]], path[1:])


def verify_export(lines: Iterable[str], anchors: Anchors | None = None) -> VerifyResult:
    """Check an export's hashes and links; name the first record that fails.

    With ``anchors``, the export's records are also compared with the signed checkpoints whose
    seq they cover (a checkpoint past the export's end is noted, not a failure: the export may
    simply be older than it).
    """
    anchoring = Anchoring(None, anchors) if anchors is not None else None
    expected: int | None = None
    prev_hash = ""
    checked = 0
    counts: Counter[str] = Counter()

    def result(head_seq: int, broken: BrokenRecord | None) -> VerifyResult:
        if anchoring is None:
            return VerifyResult(checked, head_seq, prev_hash, broken, counts=dict(counts))
        anchoring.finish(head_seq, walked_to_end=False)
        return VerifyResult(
            checked,
            head_seq,
            prev_hash,
            broken,
            tuple(anchoring.problems),
            tuple(anchoring.notes),
            dict(counts),
        )

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            seq = int(event["seq"])
        except (ValueError, KeyError, TypeError) as exc:
            unreadable = BrokenRecord(
                None, None, Break.EDITED, f"line {number} is not a record ({exc})"
            )
            return result((expected or 1) - 1, unreadable)
        broken = _check_event(event, seq, expected, prev_hash)
        if broken is not None:
            return result((expected or seq) - 1, broken)
        if anchoring is not None:
            if expected is None:
                anchoring.see(seq - 1, str(event.get("prev_hash")))
            anchoring.see(seq, str(event["hash"]))
        checked += 1
        counts[str(event.get("kind", "decision"))] += 1
        expected, prev_hash = seq + 1, str(event["hash"])
    return result((expected or 1) - 1, None)


def _check_event(
    event: dict[str, Any], seq: int, expected: int | None, prev_hash: str
) -> BrokenRecord | None:
    decision_id = event.get("decision_id") or event.get("id")
    if event.get("redacted"):
        listed = ", ".join(event["redacted"])
        return BrokenRecord(
            seq,
            decision_id,
            Break.REDACTED,
            f"exported with {listed} removed: re-export unredacted",
        )
    if expected is not None and seq != expected:
        kind = Break.DELETED if seq > expected else Break.REORDERED
        return BrokenRecord(seq, decision_id, kind, f"expected seq {expected} here")
    body = {k: v for k, v in event.items() if k not in _EXPORT_ONLY}
    if body_hash(canonical_json(body)) != event.get("hash"):
        return BrokenRecord(seq, decision_id, Break.EDITED, "its content does not match its hash")
    if expected is not None and body.get("prev_hash") != prev_hash:
        return BrokenRecord(
            seq, decision_id, Break.UNLINKED, "its prev_hash is not the previous record's hash"
        )
    return None
