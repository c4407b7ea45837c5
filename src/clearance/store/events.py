"""Trust changes as records of the decision log's hash chain.

Approvals and rejections, exceptions created and revoked, break-glass grants requested, confirmed
and revoked, API tokens created and revoked, policies stored and post-deploy checks recorded
(they change later decisions) are sealed into the same chain
as decisions (one seq space, one head), in the transaction that writes the row they describe:
a row can never exist without its record, nor a record without its row.

A record holds the row's whole state after the change, read back from the table inside that
transaction (``state``): what the table said is what was sealed, and a column added to a table
later is recorded without touching this module. ``clearance audit verify`` rebuilds every
object's latest state from the chain and compares it with the tables (:mod:`clearance.audit.state`).
Two columns are not trust state and are left out: a token's ``last_used_at`` and a grant's
``notified_at`` (delivery bookkeeping). A token's ``hash`` is recorded as a fingerprint
(sha256 of the stored hash), never as the secret or the lookup value itself.

The body, hashed exactly like a decision record (sha256 of its RFC 8785 canonical JSON)::

    {"actor": "alice", "at": "…", "id": "apr_…", "kind": "approval", "object": "approval",
     "prev_hash": "…", "schema_version": 1, "seq": 812, "state": {…the row…}}

A decision record has no ``kind`` member, so decision records hash byte for byte as before.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import MetaData, Table, insert, select
from sqlalchemy.engine import Connection

from clearance.model.canonical import canonical_json
from clearance.model.signal import format_time, utc
from clearance.store import tables as t
from clearance.store.appender import HEAD, HEAD_FOR_UPDATE, MOVE_HEAD
from clearance.store.chain import body_hash
from clearance.store.interface import AUDIT_SCHEMA_VERSION, ApprovalOutcome, StoreError


class EventKind(StrEnum):
    APPROVAL = "approval"
    REJECTION = "rejection"
    EXCEPTION_CREATED = "exception.created"
    EXCEPTION_REVOKED = "exception.revoked"
    BREAK_GLASS_REQUESTED = "break_glass.requested"
    BREAK_GLASS_CONFIRMED = "break_glass.confirmed"
    BREAK_GLASS_REVOKED = "break_glass.revoked"
    TOKEN_CREATED = "token.created"  # noqa: S105 - a record kind, not a secret
    TOKEN_REVOKED = "token.revoked"  # noqa: S105
    POLICY_STORED = "policy.stored"
    CHECK_RECORDED = "check.recorded"  # a post-deploy check report, read by later decisions
    # The state of a row that existed when recording began (written by migration 0005), or
    # that a later migration changed: the chain takes it as it was found.
    ADOPTED = "adopted"


@dataclass(frozen=True, slots=True)
class Tracked:
    """A table whose rows the chain records: ``object`` names it in records and messages."""

    object: str
    table: str
    key: str
    ignored: frozenset[str] = frozenset()  # columns that are not trust state
    fingerprinted: frozenset[str] = frozenset()  # recorded as ``<name>_fingerprint``


APPROVAL = Tracked("approval", "approvals", "id")
EXCEPTION = Tracked("exception", "exemptions", "id")
BREAK_GLASS = Tracked("break_glass", "break_glass", "id", frozenset({"notified_at"}))
TOKEN = Tracked(
    "token", "api_tokens", "id", frozenset({"last_used_at"}), fingerprinted=frozenset({"hash"})
)
POLICY = Tracked("policy", "policies", "digest")
CHECK = Tracked("check", "post_deploy_checks", "id")
TRACKED = (APPROVAL, EXCEPTION, BREAK_GLASS, TOKEN, POLICY, CHECK)
BY_OBJECT = {tracked.object: tracked for tracked in TRACKED}


def approval_kind(outcome: ApprovalOutcome) -> EventKind:
    return EventKind.APPROVAL if outcome is ApprovalOutcome.APPROVE else EventKind.REJECTION


def state_of(tracked: Tracked, row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row (column name → value) as the JSON state a record holds."""
    state: dict[str, Any] = {}
    for name, value in row.items():
        column = str(name)
        if column in tracked.ignored:
            continue
        if column in tracked.fingerprinted:
            state[f"{column}_fingerprint"] = None if value is None else fingerprint(str(value))
            continue
        state[column] = _json_value(value)
    return state


def fingerprint(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        # Reflected SQLite columns (migrations) come back naive; they are stored in UTC.
        return format_time(value.replace(tzinfo=UTC) if value.tzinfo is None else utc(value))
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode("ascii")}
    if isinstance(value, Decimal):
        return float(value)
    raise StoreError(f"store: cannot record a column value of type {type(value).__name__}")


def read_state(conn: Connection, tracked: Tracked, object_id: str) -> dict[str, Any] | None:
    """The row's recordable state as it is now (inside the caller's transaction), or None."""
    table = t.metadata.tables[tracked.table]
    row = conn.execute(select(table).where(table.c[tracked.key] == object_id)).mappings().first()
    return None if row is None else state_of(tracked, row)


def record_change(
    conn: Connection,
    kind: EventKind,
    tracked: Tracked,
    object_id: str,
    before: Mapping[str, Any] | None,
    actor: str | None,
    now: datetime,
) -> int | None:
    """Seal the row's new state if it differs from ``before``; the record's seq, or None.

    A call that changed nothing (a second revocation, a repeated confirmation) records nothing.
    """
    after = read_state(conn, tracked, object_id)
    if after is None or after == before:
        return None
    return record(conn, kind, tracked, object_id, after, actor, now)


def record(
    conn: Connection,
    kind: EventKind,
    tracked: Tracked,
    object_id: str,
    state: Mapping[str, Any],
    actor: str | None,
    now: datetime,
) -> int:
    """Seal one record at the chain's head, in the caller's transaction; its seq."""
    seq, prev_hash = lock_head(conn)
    seq += 1
    at = format_time(utc(now))
    body = canonical_json(
        {
            "actor": actor,
            "at": at,
            "id": object_id,
            "kind": kind.value,
            "object": tracked.object,
            "prev_hash": prev_hash,
            "schema_version": AUDIT_SCHEMA_VERSION,
            "seq": seq,
            "state": dict(state),
        }
    )
    digest = body_hash(body)
    conn.execute(
        insert(t.audit_events).values(
            seq=seq,
            kind=kind.value,
            object=tracked.object,
            object_id=object_id,
            at=utc(now),
            actor=actor,
            prev_hash=prev_hash,
            hash=digest,
            record=body.decode("utf-8"),
        )
    )
    conn.execute(MOVE_HEAD, {"head_seq": seq, "head_hash": digest})
    return seq


def lock_head(conn: Connection) -> tuple[int, str]:
    """The head ``(seq, hash)``, locked until the caller's transaction ends.

    SQLite needs no row lock: a write transaction there is ``BEGIN IMMEDIATE``, one at a time.
    On PostgreSQL a transaction that also takes the head after other row locks must not hold
    one the appender waits for: the appender touches only ``decisions``, ``policies`` and the
    head, so :meth:`SqlStore.put_policy` takes the head first.
    """
    statement = HEAD_FOR_UPDATE if conn.dialect.name == "postgresql" else HEAD
    row = conn.execute(statement).one()
    return int(row.seq), str(row.hash)


def adopt_all(
    conn: Connection, actor: str, now: datetime, only: Collection[Tracked] = TRACKED
) -> int:
    """Record every row of the tracked tables (``only``: those a migration reshaped) as it is
    found (kind ``adopted``); how many were recorded.

    For migrations: the tables are reflected from the database rather than taken from
    ``tables.py``, so a later revision's columns are not asked of an older schema.
    """
    count = 0
    for tracked in only:
        table = Table(tracked.table, MetaData(), autoload_with=conn)
        query = select(table).order_by(table.c[tracked.key])
        for row in conn.execute(query).mappings().all():
            state = state_of(tracked, row)
            record(conn, EventKind.ADOPTED, tracked, str(row[tracked.key]), state, actor, now)
            count += 1
    return count
