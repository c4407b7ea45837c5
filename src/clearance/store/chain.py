"""Sealing audit records: canonical JSON bodies chained by sha256.

``hash = sha256(canonical_json(body))`` where ``body`` is the record without ``hash`` and
``canonical_json`` is RFC 8785. The expensive part, canonicalizing the decision and its snapshot,
happens in :func:`prepare` *before* the chain lock is taken; :func:`seal` then only splices in
``seq`` and ``prev_hash``. RFC 8785 serializes an object as its members sorted by key, so
splicing pre-canonicalized values between canonical keys yields exactly
``canonical_json(body)`` (``tests/unit/store/test_store_chain.py`` checks this property).
``canonical_json`` is :mod:`clearance.model.canonical`, byte-identical to ``rfc8785.dumps``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clearance.model.canonical import canonical_json
from clearance.model.decision import Decision
from clearance.model.signal import format_time, parse_time, utc
from clearance.model.snapshot import Snapshot
from clearance.store.interface import AUDIT_SCHEMA_VERSION, AuditRecord, Caller, StoreError
from clearance.store.record_parts import stored_pieces

_BODY_KEYS = (
    "at",
    "caller",
    "decision",
    "decision_id",
    "policy_digest",
    "prev_hash",
    "schema_version",
    "seq",
    "snapshot",
)
_KEY_PREFIXES = {key: canonical_json(key) + b":" for key in _BODY_KEYS}  # once, not per record


@dataclass(frozen=True, slots=True)
class Prepared:
    """A decision ready to be sealed: everything but its place in the chain."""

    decision_id: str
    at: str  # RFC 3339, as recorded
    environment: str
    verdict: str
    target_key: str
    actor: str | None
    policy_digest: str
    parts: dict[str, bytes]  # canonical JSON of each body member except seq and prev_hash
    members: dict[str, Any]  # the same members as JSON values, to build the returned record
    # The snapshot as stored: its parts that repeat across records (the exposure's assets, the
    # matches) as references, those parts by digest (clearance.store.record_parts). None: the
    # snapshot is stored as it is.
    stored_snapshot: bytes | None = None
    apart: dict[str, bytes] = field(default_factory=dict)


def prepare(decision: Decision, snapshot: Snapshot, caller: Caller, now: datetime) -> Prepared:
    """Canonicalize the parts of a record that do not depend on the chain."""
    at = format_time(utc(now))
    members: dict[str, Any] = {
        "at": at,
        "caller": caller.to_dict(),
        "decision": decision.to_dict(),
        "decision_id": decision.id,
        "policy_digest": decision.policy_digest,
        "schema_version": AUDIT_SCHEMA_VERSION,
        "snapshot": snapshot.to_dict(),
    }
    parts = {key: canonical_json(value) for key, value in members.items() if key != "snapshot"}
    parts["snapshot"], pieces = snapshot.canonical_parts(members["snapshot"])
    stored_snapshot, apart = stored_pieces(pieces)
    return Prepared(
        decision_id=decision.id,
        at=at,
        environment=decision.target.environment,
        verdict=decision.verdict.value,
        target_key=decision.target.key,
        actor=decision.target.change.actor,
        policy_digest=decision.policy_digest,
        parts=parts,
        members=members,
        stored_snapshot=stored_snapshot,
        apart=apart,
    )


def seal(prepared: Prepared, seq: int, prev_hash: str) -> tuple[bytes, str]:
    """The record body's canonical bytes and its hash, at position ``seq`` after ``prev_hash``."""
    body = _body(prepared.parts, seq, prev_hash)
    return body, body_hash(body)


def stored_text(prepared: Prepared, seq: int, prev_hash: str) -> str:
    """What the ``record`` column holds for the body :func:`seal` makes: the same bytes with the
    snapshot's repeating parts (``prepared.apart``) as references."""
    parts = prepared.parts
    if prepared.stored_snapshot is not None:
        parts = {**parts, "snapshot": prepared.stored_snapshot}
    return _body(parts, seq, prev_hash).decode("utf-8")


def _body(parts: dict[str, bytes], seq: int, prev_hash: str) -> bytes:
    parts = {**parts, "seq": canonical_json(seq), "prev_hash": canonical_json(prev_hash)}
    return b"{" + b",".join(_KEY_PREFIXES[key] + parts[key] for key in _BODY_KEYS) + b"}"


def sealed_record(prepared: Prepared, seq: int, prev_hash: str, digest: str) -> AuditRecord:
    """The record :func:`seal` hashed, built from the prepared members (no re-parsing)."""
    m = prepared.members
    return AuditRecord(
        schema_version=m["schema_version"],
        seq=seq,
        decision_id=m["decision_id"],
        at=parse_time(m["at"]),
        decision=m["decision"],
        snapshot=m["snapshot"],
        policy_digest=m["policy_digest"],
        caller=m["caller"],
        prev_hash=prev_hash,
        hash=digest,
    )


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def record_from_body(body_text: str, record_hash: str) -> AuditRecord:
    """Rebuild a stored record from its body JSON (as kept in the ``record`` column)."""
    try:
        body = json.loads(body_text)
        return AuditRecord(
            schema_version=body["schema_version"],
            seq=body["seq"],
            decision_id=body["decision_id"],
            at=parse_time(body["at"]),
            decision=body["decision"],
            snapshot=body["snapshot"],
            policy_digest=body["policy_digest"],
            caller=body["caller"],
            prev_hash=body["prev_hash"],
            hash=record_hash,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(
            f"store: an audit record (hash {record_hash[:12]}…) is unreadable ({exc}); "
            "run `clearance audit verify` to find the damage"
        ) from exc
