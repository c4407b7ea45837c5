"""Held gates: hold once, release once (the release is a conditional UPDATE, so two replicas
settling the same decision at the same moment cannot both answer GitHub); and the callbacks
sent to answer them, with every attempt."""

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


def save_callback(
    conn: Connection,
    callback_id: str,
    decision_id: str,
    integration: str,
    record: dict[str, Any],
    now: datetime,
) -> None:
    values = {
        "decision_id": decision_id,
        "integration": integration,
        "outcome": str(record.get("outcome", "pending")),
        "record": json.dumps(record, sort_keys=True),
        "updated_at": now,
    }
    found = conn.execute(
        update(t.callbacks).where(t.callbacks.c.id == callback_id).values(**values)
    )
    if found.rowcount == 0:
        conn.execute(insert(t.callbacks).values(id=callback_id, **values))


def list_callbacks(
    conn: Connection, decision_id: str | None, outcome: str | None, limit: int
) -> list[dict[str, Any]]:
    query = select(t.callbacks.c.record).order_by(t.callbacks.c.seq)  # in the order sent
    if decision_id is not None:
        query = query.where(t.callbacks.c.decision_id == decision_id)
    if outcome is not None:
        query = query.where(t.callbacks.c.outcome == outcome)
    rows = conn.execute(query.limit(limit)).all()
    return [json.loads(row.record) for row in rows]
