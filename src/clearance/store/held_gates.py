"""Held gates: hold once, release once (the release is a conditional UPDATE, so two replicas
settling the same decision at the same moment cannot both answer GitHub)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from clearance.store import tables as t


def hold(conn: Connection, decision_id: str, gate: dict[str, Any], now: datetime) -> None:
    values = {"gate": json.dumps(gate, sort_keys=True), "held_at": now, "released_at": None}
    found = conn.execute(
        update(t.held_gates).where(t.held_gates.c.decision_id == decision_id).values(**values)
    )
    if found.rowcount == 0:
        conn.execute(insert(t.held_gates).values(decision_id=decision_id, **values))


def release(conn: Connection, decision_id: str, now: datetime) -> dict[str, Any] | None:
    taken = conn.execute(
        update(t.held_gates)
        .where(t.held_gates.c.decision_id == decision_id)
        .where(t.held_gates.c.released_at.is_(None))
        .values(released_at=now)
    )
    if taken.rowcount != 1:
        return None
    row = conn.execute(
        select(t.held_gates.c.gate).where(t.held_gates.c.decision_id == decision_id)
    ).one()
    gate: dict[str, Any] = json.loads(row.gate)
    return gate
