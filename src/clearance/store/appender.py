"""Appending to the decision log: group-committed, one hash chain, returned after commit.

Appends are serialized twice over: in the process by a lock, across processes by the database
(SQLite's ``BEGIN IMMEDIATE``; on PostgreSQL ``SELECT … FOR UPDATE`` on the ``audit_head`` row).
Under load the lock holder commits every record that queued while it waited in one transaction
(group commit): one fsync for many records, each caller still returning only after its own record
is durable. If a group fails on a conflict, its records are retried one by one so that one bad
record cannot fail its neighbours.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from clearance.model.signal import parse_time
from clearance.store import tables as t
from clearance.store.chain import Prepared, record_from_body, seal, sealed_record, stored_text
from clearance.store.database import Database
from clearance.store.decisions import put_policy
from clearance.store.driver_sql import DriverStatement, cursor
from clearance.store.interface import (
    AuditRecord,
    ConflictError,
    StoreError,
    StoreUnavailableError,
)
from clearance.store.record_parts import expand_rows

MAX_GROUP = 256  # records per group commit: bounds one transaction's size and latency
MAX_PENDING = 1024  # appends allowed to wait; beyond, refuse at once (the caller answers 503)
KNOWN_PARTS = 4096  # digests of record parts known to be stored, remembered per appender

# Built once: constructing a statement per append (and a new one per head value) cost more CPU
# than executing it. Executions reuse SQLAlchemy's compiled form through its statement cache.
# The head statements are shared with the other records of the chain (``events.py``).
HEAD = select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1)
HEAD_FOR_UPDATE = HEAD.with_for_update()
_INSERT_RECORDS = insert(t.decisions)
MOVE_HEAD = (
    update(t.audit_head)
    .where(t.audit_head.c.id == 1)
    .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)
_RECORD_COLUMNS = tuple(t.decisions.c.keys())  # every column, as the table declares them
_PART_COLUMNS = ("digest", "text")


def _insert_parts(dialect: Dialect) -> Any:
    """Insert a record part unless it is stored already (another record, another process)."""
    table = t.record_parts
    if dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["digest"])
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=["digest"])


@dataclass(frozen=True, slots=True)
class _Statements:
    """The append's three statements for one dialect, run on the driver's cursor
    (:mod:`clearance.store.driver_sql`: the same SQL without SQLAlchemy's per-call cost)."""

    head: DriverStatement
    insert: DriverStatement
    move_head: DriverStatement
    insert_parts: DriverStatement

    @classmethod
    def compile(cls, dialect: Dialect) -> _Statements:
        head = HEAD_FOR_UPDATE if dialect.name == "postgresql" else HEAD
        return cls(
            DriverStatement.compile(head, dialect),
            DriverStatement.compile(_INSERT_RECORDS, dialect, _RECORD_COLUMNS),
            DriverStatement.compile(MOVE_HEAD, dialect),
            DriverStatement.compile(_insert_parts(dialect), dialect, _PART_COLUMNS),
        )


@dataclass(slots=True)
class _Pending:
    prepared: Prepared
    policy: tuple[str, bytes] | None
    now: datetime
    done: threading.Event = field(default_factory=threading.Event)
    record: AuditRecord | None = None
    error: StoreError | None = None


class ChainAppender:
    """Appends records to the chain; thread-safe; every call returns after its commit.

    At most ``max_pending`` appends wait at once; one more is refused at once with
    StoreUnavailableError, so an overloaded service answers 503 with Retry-After instead of
    letting every request queue past its client's timeout. A refused record was never taken:
    nothing is dropped silently.
    """

    def __init__(self, db: Database, max_pending: int = MAX_PENDING) -> None:
        self._db = db
        self._max_pending = max_pending
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()
        self._stored_policies: set[str] = set()  # digests known to be in the policies table
        self._stored_parts: set[str] = set()  # digests known to be in record_parts
        self._sql = _Statements.compile(db.engine.dialect)

    def append(
        self, prepared: Prepared, policy: tuple[str, bytes] | None, now: datetime
    ) -> AuditRecord:
        pending = _Pending(prepared, policy, now)
        with self._queue_lock:
            if len(self._queue) >= self._max_pending:
                raise StoreUnavailableError(
                    f"store: the decision log is busy ({len(self._queue)} appends waiting); "
                    "retry shortly"
                )
            self._queue.append(pending)
        while not pending.done.is_set():
            with self._leader:
                if pending.done.is_set():
                    break  # an earlier leader committed it while we queued for the lock
                with self._queue_lock:
                    group = self._queue[:MAX_GROUP]
                    del self._queue[:MAX_GROUP]
                self._commit_group(group, careful=False)
        if pending.error is not None:
            raise pending.error
        assert pending.record is not None
        return pending.record

    def _commit_group(self, group: list[_Pending], *, careful: bool) -> None:
        """Commit ``group`` in one transaction and wake its callers.

        The fast path inserts optimistically; a conflict (a repeated decision id, a policy digest
        with other bytes) rolls the group back and retries each record alone, carefully: looking
        up existing ids first so a repeat gets its first record back.
        """
        try:
            records = self._write(group, careful=careful)
        except ConflictError as exc:
            if careful:
                for one in group:
                    one.error = exc
                    one.done.set()
                return
            for one in group:
                self._commit_group([one], careful=True)
            return
        except StoreError as exc:  # unavailable or busy: the whole group is refused, retryable
            for one in group:
                one.error = exc
                one.done.set()
            return
        except BaseException as exc:  # never leave a follower waiting forever
            for one in group:
                one.error = StoreError(f"store: append decision: {type(exc).__name__}")
                one.done.set()
            raise
        for one, record in zip(group, records, strict=True):
            one.record = record
            one.done.set()

    def _write(self, group: list[_Pending], *, careful: bool) -> list[AuditRecord]:
        """One transaction for ``group``. The usual one (no repeat suspected, the policy text
        already stored) runs on a pooled DBAPI connection alone; the first append of a policy,
        and the careful retry of a group that conflicted, go through SQLAlchemy."""
        stored = self._stored_policies
        if not careful and all(one.policy is None or one.policy[0] in stored for one in group):
            stored_apart: set[str] = set()
            with self._db.driver_write("append decision") as cur:
                records = self._seal(cur, group, {}, stored_apart)
            self._known_parts(stored_apart)  # only once committed
            return records
        new_policies: set[str] = set()
        with self._db.write("append decision") as conn:
            # A decision id digests the policy, the inputs and the time: the same id is the same
            # decision, so a repeat (a client's retry) gets the record already sealed.
            sealed: dict[str, AuditRecord] = {}
            if careful:
                rows = conn.execute(
                    select(
                        t.decisions.c.decision_id, t.decisions.c.record, t.decisions.c.hash
                    ).where(t.decisions.c.decision_id.in_({p.prepared.decision_id for p in group}))
                ).all()
                sealed = {
                    r.decision_id: record_from_body(text, r.hash)
                    for r, text in zip(rows, expand_rows(conn, rows), strict=True)
                }
            for one in group:
                if one.policy is not None and one.policy[0] not in stored | new_policies:
                    put_policy(conn, one.policy[0], one.policy[1], one.now)
                    new_policies.add(one.policy[0])
            parts: set[str] = set()
            records = self._seal(cursor(conn), group, sealed, parts)
        self._stored_policies |= new_policies  # only once committed
        self._known_parts(parts)
        return records

    def _known_parts(self, digests: set[str]) -> None:
        if len(self._stored_parts) + len(digests) > KNOWN_PARTS:
            self._stored_parts.clear()  # forgetting costs one insert that does nothing, each
        self._stored_parts |= digests

    def _seal(
        self, cur: Any, group: list[_Pending], sealed: dict[str, AuditRecord], parts: set[str]
    ) -> list[AuditRecord]:
        """Read the head, seal each record of ``group`` after it (those in ``sealed`` are
        repeats: answered with their record), insert them with the parts they store apart
        (``parts`` gets those digests) and move the head: on ``cur``, in the caller's
        transaction."""
        sql = self._sql
        cur.execute(sql.head.sql, sql.head.parameters({}))
        head_seq, head_hash = cur.fetchone()
        seq, prev = int(head_seq), str(head_hash)
        rows, records = [], []
        new_parts: dict[str, bytes] = {}
        for one in group:
            p = one.prepared
            if p.decision_id in sealed:
                records.append(sealed[p.decision_id])
                continue
            seq += 1
            digest = seal(p, seq, prev)[1]
            text = stored_text(p, seq, prev)
            parts.update(p.apart)
            new_parts.update((d, b) for d, b in p.apart.items() if d not in self._stored_parts)
            rows.append(
                sql.insert.parameters(
                    {
                        "seq": seq,
                        "decision_id": p.decision_id,
                        "at": record_time(p),
                        "environment": p.environment,
                        "verdict": p.verdict,
                        "target_key": p.target_key,
                        "actor": p.actor,
                        "policy_digest": p.policy_digest,
                        "prev_hash": prev,
                        "hash": digest,
                        "record": text,
                    }
                )
            )
            sealed[p.decision_id] = sealed_record(p, seq, prev, digest)
            records.append(sealed[p.decision_id])
            prev = digest
        if new_parts:
            cur.executemany(
                sql.insert_parts.sql,
                [
                    sql.insert_parts.parameters({"digest": d, "text": b.decode("utf-8")})
                    for d, b in sorted(new_parts.items())  # one order: no lock-order deadlock
                ],
            )
        if rows:
            cur.executemany(sql.insert.sql, rows)
            cur.execute(
                sql.move_head.sql, sql.move_head.parameters({"head_seq": seq, "head_hash": prev})
            )
        cur.close()
        return records


def record_time(prepared: Prepared) -> datetime:
    return parse_time(prepared.at)
