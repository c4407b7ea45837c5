"""The decision log's reads, and the policies decisions were made under.

Appending is :mod:`clearance.store.appender`; the chain as verification reads it (decisions and
the other records merged) is :mod:`clearance.store.audit_log`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from clearance.store import tables as t
from clearance.store.chain import record_from_body
from clearance.store.database import Database
from clearance.store.interface import (
    AuditRecord,
    ConflictError,
    DecisionFilter,
    DecisionPage,
    NotFoundError,
    StoreError,
)
from clearance.store.record_parts import expand, expand_rows


def put_policy(conn: Connection, digest: str, text: bytes, now: datetime) -> bool:
    """Keep ``text`` under ``digest``; True when it was not stored before (a new policy)."""
    stored = conn.execute(select(t.policies.c.text).where(t.policies.c.digest == digest)).first()
    if stored is None:
        conn.execute(insert(t.policies).values(digest=digest, text=text, stored_at=now))
        return True
    if bytes(stored.text) != text:
        raise ConflictError(f"store: policy {digest} is already stored with different bytes")
    return False


def get_policy(conn: Connection, digest: str) -> bytes:
    text = conn.execute(select(t.policies.c.text).where(t.policies.c.digest == digest)).scalar()
    if text is None:
        raise NotFoundError(f"no stored policy with digest {digest}")
    return bytes(text)


def get(conn: Connection, decision_id: str) -> AuditRecord:
    row = conn.execute(
        select(t.decisions.c.record, t.decisions.c.hash).where(
            t.decisions.c.decision_id == decision_id
        )
    ).first()
    if row is None:
        raise NotFoundError(f"no decision with id {decision_id!r}")
    return record_from_body(expand(conn, [row.record])[0], row.hash)


def page(conn: Connection, filters: DecisionFilter, limit: int, cursor: str | None) -> DecisionPage:
    if not 1 <= limit <= 1000:
        raise StoreError(f"store: list decisions: limit {limit} not in 1..1000")
    query = select(t.decisions.c.seq, t.decisions.c.record, t.decisions.c.hash)
    if cursor is not None:
        if not cursor.isdigit():
            raise StoreError(f"store: list decisions: invalid cursor {cursor!r}")
        query = query.where(t.decisions.c.seq < int(cursor))
    c = t.decisions.c
    for column, value in (
        (c.environment, filters.environment),
        (c.verdict, filters.verdict),
        (c.target_key, filters.target_key),
        (c.actor, filters.actor),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(c.at >= filters.since)
    if filters.until is not None:
        query = query.where(c.at <= filters.until)
    rows = conn.execute(query.order_by(c.seq.desc()).limit(limit + 1)).all()
    texts = expand_rows(conn, rows[:limit])
    records = tuple(record_from_body(text, r.hash) for text, r in zip(texts, rows, strict=False))
    more = len(rows) > limit
    return DecisionPage(records=records, next_cursor=str(rows[limit - 1].seq) if more else None)


def iterate(
    db: Database, since_seq: int, since: datetime | None, batch: int = 500
) -> Iterator[AuditRecord]:
    """Records in chain order, fetched in batches (each its own short read)."""
    after = since_seq
    while True:
        query = select(t.decisions.c.seq, t.decisions.c.record, t.decisions.c.hash).where(
            t.decisions.c.seq > after
        )
        if since is not None:
            query = query.where(t.decisions.c.at >= since)
        with db.read("read decision log") as conn:
            rows = conn.execute(query.order_by(t.decisions.c.seq).limit(batch)).all()
            texts = expand_rows(conn, rows)
        for row, text in zip(rows, texts, strict=True):
            yield record_from_body(text, row.hash)
        if len(rows) < batch:
            return
        after = int(rows[-1].seq)
