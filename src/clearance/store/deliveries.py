"""Signed webhook deliveries already received, so that a replay is refused by any replica.

A GitHub delivery's signature never expires, and its ``X-GitHub-Delivery`` id is the same for
every redelivery of one event: the id is claimed once, with an insert the primary key makes
atomic. The rows are small (one per protection-rule request) and kept: a delivery is refused
however late it is replayed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from clearance.store import tables as t

_T = t.webhook_deliveries


def claim(conn: Connection, integration: str, delivery_id: str, now: datetime) -> datetime | None:
    """None when this call claimed the delivery; else when it was first received."""
    first = conn.execute(
        select(_T.c.received_at).where(
            _T.c.integration == integration, _T.c.delivery_id == delivery_id
        )
    ).first()
    if first is not None:
        received: datetime = first.received_at
        return received
    conn.execute(
        _T.insert().values(integration=integration, delivery_id=delivery_id, received_at=now)
    )
    return None
