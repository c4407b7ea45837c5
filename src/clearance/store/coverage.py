"""Agent inventories (``Batch.coverage``): which hosts each covering source's agents watch.

Each sync replaces a source's whole inventory: an agent uninstalled since is gone, not kept as
covering. Functions take an open connection inside the caller's transaction, like
``identities.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from clearance.model.canonical import canonical_json
from clearance.model.coverage import Managed
from clearance.store import tables as t


def replace(conn: Connection, source: str, agents: Sequence[Managed], now: datetime) -> int:
    """Make ``agents`` the whole inventory of ``source``; returns how many are kept."""
    conn.execute(delete(t.host_coverage).where(t.host_coverage.c.source == source))
    rows = {
        a.device: {
            "source": source,
            "device": a.device,
            "record": canonical_json(a.to_dict()).decode(),
            "seen_at": now,
        }
        for a in agents
    }
    if rows:
        conn.execute(insert(t.host_coverage), list(rows.values()))
    return len(rows)


def every(conn: Connection) -> tuple[Managed, ...]:
    rows = conn.execute(
        select(t.host_coverage.c.record).order_by(
            t.host_coverage.c.source, t.host_coverage.c.device
        )
    )
    return tuple(Managed.from_dict(json.loads(row.record)) for row in rows)
