"""Host identity groups (``Batch.identities``), kept per source and machine.

A group is keyed by the digest of its canonical JSON: the same machine reported again with the
same names only moves ``seen_at``; a machine whose names changed is a new group, and the old one
ages out of :func:`groups` after the retention the caller passes. Functions take an open
connection inside the caller's transaction, like ``signals.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from clearance.model.canonical import canonical_digest, canonical_json
from clearance.store import tables as t

Group = Mapping[str, Sequence[str]]


def put(conn: Connection, source: str, groups: Sequence[Group], now: datetime) -> int:
    """Keep each group as seen at ``now``; returns how many were new."""
    by_key: dict[str, str] = {}
    for group in groups:
        value = {kind: list(values) for kind, values in group.items()}
        by_key[canonical_digest(value)] = canonical_json(value).decode()
    known = set(
        conn.execute(
            select(t.host_identities.c.key).where(
                t.host_identities.c.source == source, t.host_identities.c.key.in_(list(by_key))
            )
        ).scalars()
    )
    if known:
        conn.execute(
            update(t.host_identities)
            .where(t.host_identities.c.source == source, t.host_identities.c.key.in_(known))
            .values(seen_at=now)
        )
    new = [
        {"source": source, "key": key, "group": text, "seen_at": now}
        for key, text in by_key.items()
        if key not in known
    ]
    if new:
        conn.execute(insert(t.host_identities), new)
    return len(new)


def groups(conn: Connection, since: datetime) -> tuple[tuple[str, dict[str, tuple[str, ...]]], ...]:
    """``(source, group)`` for every group seen at or after ``since``, in a stable order."""
    rows = conn.execute(
        select(t.host_identities.c.source, t.host_identities.c.group)
        .where(t.host_identities.c.seen_at >= since)
        .order_by(t.host_identities.c.source, t.host_identities.c.key)
    )
    return tuple(
        (row.source, {kind: tuple(values) for kind, values in json.loads(row.group).items()})
        for row in rows
    )
