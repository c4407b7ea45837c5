"""The database's change counters (migration 0016): one per kind of data a read cache keeps.

Triggers bump ``store_changes.value`` on every write of the kind's tables, by any process; equal
readings mean nothing of that kind was written in between. A counter whose row is gone (someone
emptied the table) is simply absent: caches of that kind fall back to re-reading by age.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from clearance.store import tables as t

_ALL = select(t.store_changes.c.name, t.store_changes.c.value)


def read(conn: Connection) -> dict[str, int]:
    return {str(row.name): int(row.value) for row in conn.execute(_ALL)}
