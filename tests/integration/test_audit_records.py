"""Trust records are written with their rows or not at all, extend the one chain under load,
and an upgraded database adopts the rows it already had."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from builders import NOW
from clearance.audit.verify import Break, verify
from clearance.store import grants, tokens
from clearance.store.interface import Approval, ApprovalOutcome, Scope, StoreError
from clearance.store.sql import SqlStore
from store_samples import append, sample

_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'the chain refuses'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'the chain refuses'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse BEFORE INSERT ON audit_events FOR EACH ROW "
        "EXECUTE FUNCTION refuse()",
    ],
}
_ALLOW = {
    "sqlite": ["DROP TRIGGER refuse"],
    "postgresql": ["DROP TRIGGER refuse ON audit_events", "DROP FUNCTION refuse()"],
}


def _approval(decision_id: str, approver: str, minute: int = 0) -> Approval:
    return Approval(
        id=f"apr-{approver}-{minute}",
        decision_id=decision_id,
        approver=approver,
        outcome=ApprovalOutcome.APPROVE,
        reason="ok",
        at=NOW + timedelta(minutes=minute),
        expires_at=None,
        score=1.0,
    )


def _run(store: SqlStore, statements: list[str]) -> None:
    with store.db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_a_row_is_never_written_without_its_record(store: SqlStore) -> None:
    decision_id = append(store, sample(0)).decision_id
    head = store.chain_head()
    _run(store, _REFUSE[store.db.dialect])
    try:
        with pytest.raises(StoreError, match="the chain refuses"):
            store.add_approval(_approval(decision_id, "alice"))
        with pytest.raises(StoreError, match="the chain refuses"):
            store.create_token("ci", [Scope.DECIDE], NOW)
    finally:
        _run(store, _ALLOW[store.db.dialect])
    assert store.list_approvals(decision_id) == ()
    assert store.list_tokens() == ()
    assert store.chain_head() == head
    assert verify(store).ok


def test_approvals_and_decisions_written_at_once_extend_one_chain(store: SqlStore) -> None:
    decision_id = append(store, sample(0)).decision_id
    errors: list[BaseException] = []

    def decide(part: int) -> None:
        try:
            for i in range(1 + part, 61, 4):
                append(store, sample(i))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def approve(who: str) -> None:
        try:
            for minute in range(15):
                store.add_approval(_approval(decision_id, f"{who}{minute}", minute))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=decide, args=(p,)) for p in range(4)]
    threads += [threading.Thread(target=approve, args=(who,)) for who in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = verify(store)
    assert result.ok, [str(f) for f in result.findings]
    assert result.counts == {"decision": 61, "approval": 30}
    assert result.head_seq == 91


def test_an_upgraded_database_adopts_the_rows_it_had(tmp_path: Path) -> None:
    from alembic import command

    from clearance.store.database import Database, _alembic_config, build_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(build_engine(url))
    with db.write("migrate to 0004") as conn:
        command.upgrade(_alembic_config(conn), "0004")
    old = SqlStore(db)
    decision_id = append(old, sample(0)).decision_id
    with db.write("write as the code before 0005 did") as conn:
        grants.add_approval(conn, _approval(decision_id, "alice"))
        info, _ = tokens.create(conn, "ci", [Scope.DECIDE], NOW, None)
    before = verify(old)  # an older schema: the decision chain alone, and no table compared
    assert (before.ok, before.records, before.counts) == (True, 1, {"decision": 1})
    old.close()

    upgraded = SqlStore.open(url)
    try:
        result = verify(upgraded)
        assert result.ok, [str(f) for f in result.findings]
        assert result.counts == {"decision": 1, "adopted": 3}  # the approval, token, policy
        with upgraded.db.engine.begin() as conn:
            conn.execute(
                text("UPDATE api_tokens SET scopes = 'admin' WHERE id = :i"), {"i": info.id}
            )
        (found,) = verify(upgraded).findings
        assert found.kind is Break.MISMATCH
        assert "scopes is 'admin' in the table, 'decide' in the record at seq" in found.detail
    finally:
        upgraded.close()


def test_the_service_checkpointer_anchors_at_start_and_stop_and_refuses_a_rewrite(
    store: SqlStore, tmp_path: Path
) -> None:
    from audit_insider import Insider
    from clearance.audit.checkpointer import Checkpointer, CheckpointThread
    from clearance.audit.signing import Ed25519FileSigner, generate

    generate(tmp_path / "audit.pem")
    signer = Ed25519FileSigner.from_file(tmp_path / "audit.pem")

    def service() -> CheckpointThread:
        writer = Checkpointer(store, signer, every=1000, interval=timedelta(hours=1))
        return CheckpointThread(writer, clock=lambda: NOW, poll=0.01)

    def latest_seq() -> int | None:
        latest = store.latest_checkpoint()
        return None if latest is None else latest.seq

    for i in range(2):
        append(store, sample(i))
    running = service()
    running.start()
    for _ in range(500):
        if latest_seq() is not None:
            break
        threading.Event().wait(0.01)
    assert latest_seq() == 2  # at start: what the service found
    append(store, sample(2))
    running.stop()
    assert latest_seq() == 3  # at a clean stop: the head it leaves

    rows = Insider(store).rows()  # rewritten while the service was down
    rows[0].body["decision"] = {**rows[0].body["decision"], "verdict": "proceed"}
    Insider(store).reseal(rows)
    again = service()
    again.start()
    for _ in range(500):
        if again.last_error is not None:
            break
        threading.Event().wait(0.01)
    again.stop()
    assert latest_seq() == 3  # never signed
    assert "refusing to sign: the record at seq 3 breaks the chain" in str(again.last_error)
