"""The chain as ``audit verify``, ``export`` and the checkpointer read it: both tables, one order.

Decisions live in ``decisions`` and every other record in ``audit_events``; they share one seq
space, so the chain is the two tables merged by seq. Reads are batched (each batch its own short
read) so a long log never holds a snapshot open for minutes. A database still at a schema before
0005 (the audit commands read older ones) has decisions only: no trust records, no checkpoints.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, inspect, select
from sqlalchemy.engine import Connection

from clearance.store import tables as t
from clearance.store.database import Database
from clearance.store.events import TRACKED, state_of
from clearance.store.interface import Checkpoint, LogRow, StoreError, TrustRow, TrustSnapshot
from clearance.store.record_parts import expand_rows

# The filter columns of each table: copies of members of the sealed body.
_COLUMNS = {
    "decisions": (
        "decision_id",
        "at",
        "environment",
        "verdict",
        "target_key",
        "actor",
        "policy_digest",
    ),
    "audit_events": ("kind", "object", "object_id", "at", "actor"),
}
_BATCH = 500


def _chain_tables(db: Database) -> tuple[Table, ...]:
    return (t.decisions, t.audit_events) if _has_trust_records(db) else (t.decisions,)


def _has_trust_records(db: Database) -> bool:
    with db.read("inspect schema") as conn:
        return inspect(conn).has_table(t.audit_events.name)


def _batched(db: Database, table: Table, upto: int) -> Iterator[LogRow]:
    names = _COLUMNS[table.name]
    columns = [table.c.seq, table.c.prev_hash, table.c.hash, table.c.record]
    columns += [table.c[name] for name in names]
    after: int | None = None
    while True:
        query = select(*columns).where(table.c.seq <= upto).order_by(table.c.seq).limit(_BATCH)
        if after is not None:
            query = query.where(table.c.seq > after)
        with db.read("read audit log") as conn:
            rows = conn.execute(query).all()
            # Parts stored apart put back, read from the database (never from what reads kept:
            # verify must see an edited part), or left in place: damage verify names.
            texts = expand_rows(conn, rows, kept=False)
        for row, text in zip(rows, texts, strict=True):
            values = row._asdict()
            yield LogRow(
                seq=int(row.seq),
                table=table.name,
                prev_hash=row.prev_hash,
                hash=row.hash,
                record=text,
                columns={name: values[name] for name in names},
            )
        if len(rows) < _BATCH:
            return
        after = int(rows[-1].seq)


def log_rows(db: Database, upto: int) -> Iterator[LogRow]:
    """Records with seq <= ``upto`` from both tables, merged in seq order, as stored."""
    tables = _chain_tables(db)
    return heapq.merge(*(_batched(db, table, upto) for table in tables), key=lambda r: r.seq)


def chain_head(db: Database) -> tuple[int, str]:
    with db.read("read chain head") as conn:
        row = conn.execute(
            select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1)
        ).one()
    return int(row.seq), str(row.hash)


def first_row_past_head(db: Database) -> int | None:
    """One statement per table, each against the head in the same statement, so a concurrent
    append (rows and head move in one transaction) never makes a sealed record look stray."""
    head_seq = select(t.audit_head.c.seq).where(t.audit_head.c.id == 1).scalar_subquery()
    found = []
    tables = _chain_tables(db)
    with db.read("read chain head") as conn:
        for table in tables:
            value = conn.execute(select(func.min(table.c.seq)).where(table.c.seq > head_seq))
            found.append(value.scalar())
    seqs = [int(v) for v in found if v is not None]
    return min(seqs) if seqs else None


def chain_links(db: Database, after: int, upto: int) -> Iterator[tuple[int, str, str]]:
    def links(table: Table) -> Iterator[tuple[int, str, str]]:
        query = (
            select(table.c.seq, table.c.prev_hash, table.c.hash)
            .where(table.c.seq > after, table.c.seq <= upto)
            .order_by(table.c.seq)
        )
        with db.read("read chain links") as conn:
            rows = conn.execute(query).all()
        return iter([(int(r.seq), str(r.prev_hash), str(r.hash)) for r in rows])

    return heapq.merge(*(links(table) for table in _chain_tables(db)))


def log_records(db: Database, since: datetime | None) -> Iterator[dict[str, Any]]:
    """Each record's body with its ``hash``, in seq order; a body that does not parse raises."""
    head, _ = chain_head(db)
    for row in log_rows(db, upto=head):
        if since is not None and row.columns["at"] < since:
            continue
        try:
            body = json.loads(row.record)
        except ValueError as exc:
            raise StoreError(
                f"store: the audit record at seq {row.seq} is unreadable ({exc}); "
                "run `clearance audit verify` to find the damage"
            ) from exc
        yield {**body, "hash": row.hash}


def trust_snapshot(db: Database) -> TrustSnapshot:
    """Every tracked row and the head seq, in one snapshot (REPEATABLE READ on PostgreSQL; a
    SQLite read transaction sees one WAL snapshot throughout). Before schema 0005: no rows."""
    if not _has_trust_records(db):
        return TrustSnapshot(head_seq=0, rows=())
    with db.read("read approvals, exceptions, break-glass, tokens and policies") as conn:
        if conn.dialect.name == "postgresql":  # before the first statement: one snapshot
            conn.execution_options(isolation_level="REPEATABLE READ")
        head = conn.execute(select(t.audit_head.c.seq).where(t.audit_head.c.id == 1)).scalar_one()
        rows = tuple(_trust_rows(conn))
    return TrustSnapshot(head_seq=int(head), rows=rows)


def _trust_rows(conn: Connection) -> Iterator[TrustRow]:
    for tracked in TRACKED:
        table = t.metadata.tables[tracked.table]
        for row in conn.execute(select(table)).mappings():
            yield TrustRow(tracked.object, str(row[tracked.key]), state_of(tracked, row))


def add_checkpoint(db: Database, checkpoint: Checkpoint) -> None:
    with db.write("store audit checkpoint") as conn:
        conn.execute(
            insert(t.audit_checkpoints).values(
                seq=checkpoint.seq,
                head_hash=checkpoint.head_hash,
                at=checkpoint.at,
                key_id=checkpoint.key_id,
                signature=checkpoint.signature,
            )
        )


def checkpoints(db: Database, latest_only: bool = False) -> tuple[Checkpoint, ...]:
    if not _has_trust_records(db):
        return ()
    c = t.audit_checkpoints.c
    query = select(c.seq, c.head_hash, c.at, c.key_id, c.signature)
    query = query.order_by(c.id.desc()).limit(1) if latest_only else query.order_by(c.id)
    with db.read("read audit checkpoints") as conn:
        rows = conn.execute(query).all()
    return tuple(
        Checkpoint(int(r.seq), str(r.head_hash), r.at, str(r.key_id), str(r.signature))
        for r in rows
    )
