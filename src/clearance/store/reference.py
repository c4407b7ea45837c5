"""Reference documents (the KEV catalog) and the stored signals enrichment re-reads.

Functions take an open connection inside the caller's transaction, like ``signals.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from clearance.model.quarantine import payload_digest
from clearance.model.signal import Signal, SignalKind, SignalStatus, signal_from_dict
from clearance.store import tables as t
from clearance.store.interface import ReferenceDocument


def put(conn: Connection, name: str, body: bytes, now: datetime) -> ReferenceDocument:
    digest = payload_digest(body)
    values = {"digest": digest, "body": body, "updated_at": now}
    found = conn.execute(
        update(t.reference_data).where(t.reference_data.c.name == name).values(**values)
    )
    if found.rowcount == 0:
        conn.execute(insert(t.reference_data).values(name=name, **values))
    return ReferenceDocument(name, digest, body, now)


def get(conn: Connection, name: str) -> ReferenceDocument | None:
    row = conn.execute(select(t.reference_data).where(t.reference_data.c.name == name)).first()
    if row is None:
        return None
    return ReferenceDocument(row.name, row.digest, bytes(row.body), row.updated_at)


def active_of_kind(conn: Connection, kind: SignalKind) -> Iterator[Signal]:
    """Active signals of one kind. The kind lives in the JSON ``data``: a LIKE narrows the rows
    to those that mention it, and the parsed signal decides."""
    query = (
        select(t.signals.c.data)
        .where(t.signals.c.status.in_([s.value for s in SignalStatus if s.active]))
        .where(t.signals.c.data.like(f"%{json.dumps(kind.value)}%"))
        .order_by(t.signals.c.uid)
    )
    for row in conn.execute(query):
        signal = signal_from_dict(json.loads(row.data))
        if signal.kind is kind:
            yield signal
