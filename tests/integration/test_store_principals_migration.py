"""Revision 0006 on a store that already holds approvals: each gets its canonical principal, a
second answer by one person under another name keeps none (so it never counts twice), and the
unique constraint then holds on the principal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select

from builders import NOW
from clearance.store import tables
from clearance.store.database import Database, _alembic_config, build_engine
from clearance.store.interface import Approval, ApprovalOutcome, ConflictError
from clearance.store.sql import SqlStore
from store_samples import append, sample


def _legacy_answer(db: Database, decision_id: str, id_: str, approver: str, minute: int) -> None:
    """An approvals row as the revisions before 0006 stored it (no principal, no artifact)."""
    with db.write("legacy approval") as conn:
        conn.exec_driver_sql(
            "INSERT INTO approvals (id, decision_id, approver, outcome, reason, at, expires_at,"
            " score, signals, groups) VALUES (?, ?, ?, 'approve', 'ok', ?, NULL, 40.0, '[]', '[]')",
            (id_, decision_id, approver, (NOW + timedelta(minutes=minute)).replace(tzinfo=None)),
        )


def test_existing_approvals_get_their_principal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(build_engine(url))
    with db.write("migrate to the revision before 0006") as conn:
        command.upgrade(_alembic_config(conn), "0007")
    old = SqlStore(db)
    decision_id = append(old, sample(0)).decision_id
    _legacy_answer(db, decision_id, "apr-1", "token:alice", 1)
    _legacy_answer(db, decision_id, "apr-2", "Alice", 2)  # the same person, through OIDC
    _legacy_answer(db, decision_id, "apr-3", "bob", 3)
    old.close()

    store = SqlStore.open(url)
    try:
        with store.db.read("principals") as conn:
            rows = conn.execute(
                select(tables.approvals.c.id, tables.approvals.c.principal).order_by(
                    tables.approvals.c.id
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            ("apr-1", "user:alice"),
            ("apr-2", None),
            ("apr-3", "user:bob"),
        ]
        kept = store.list_approvals(decision_id)
        assert [a.approver for a in kept] == ["token:alice", "Alice", "bob"]  # as recorded
        assert all(a.artifact is None for a in kept)
        again = Approval(
            id="apr-4",
            decision_id=decision_id,
            approver="user:alice",
            outcome=ApprovalOutcome.APPROVE,
            reason="again",
            at=NOW,
            expires_at=None,
            score=40.0,
        )
        with pytest.raises(ConflictError, match="user:alice already answered"):
            store.add_approval(again)
    finally:
        store.close()
