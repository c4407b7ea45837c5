"""The database counts writes itself, so a read cache sees every process's writes.

The service keeps each target's signals (and checks, and approvals) past ``read_cache`` while
the database's counter (migration 0016's triggers) says no process wrote one; a write by another
replica, a ``sync --watch`` or an operator's SQL moves it, and the next read after
``read_cache`` sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from builders import signal
from clearance.model.signal import Signal
from clearance.snapshot import StoredEvidence
from clearance.store.interface import Approval, ApprovalOutcome
from clearance.store.sql import SqlStore
from store_samples import append, sample

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEYS = ("host:node-1",)


@pytest.fixture
def replica(store_url: str, store: SqlStore) -> Iterator[SqlStore]:
    """A second process's store on the same database (``store`` migrated it)."""
    other = SqlStore.open(store_url, migrate=False)
    try:
        yield other
    finally:
        other.close()


def test_every_way_of_writing_a_signal_moves_the_counter(store: SqlStore) -> None:
    before = store.stored_changes()["signals"]
    store.upsert_signals([signal("edr:1")], NOW)
    after_upsert = store.stored_changes()["signals"]
    assert after_upsert > before
    with store.db.engine.begin() as conn:  # an operator's SQL, or an older replica's write
        conn.execute(text("UPDATE signals SET status = 'resolved' WHERE uid = 'edr:1'"))
    assert store.stored_changes()["signals"] > after_upsert


def test_each_counter_moves_with_its_own_kind_only(store: SqlStore) -> None:
    before = store.stored_changes()
    assert set(before) == {"signals", "checks", "approvals"}
    store.upsert_signals([signal("edr:1")], NOW)
    after = store.stored_changes()
    assert after["signals"] > before["signals"]
    assert (after["checks"], after["approvals"]) == (before["checks"], before["approvals"])
    record = append(store, sample(0))
    store.note_deployed(record.decision_id, "api", "deployer", NOW)
    deployed = store.stored_changes()
    assert deployed["checks"] > after["checks"]
    assert deployed["approvals"] == after["approvals"]  # a decision is no approval
    store.add_approval(
        Approval(
            id="apr-1",
            decision_id=record.decision_id,
            approver="alice",
            outcome=ApprovalOutcome.APPROVE,
            reason="risk accepted",
            at=NOW,
            expires_at=NOW + timedelta(hours=4),
            score=42.0,
            signals=("edr:1",),
        )
    )
    assert store.stored_changes()["approvals"] > deployed["approvals"]


def test_another_replicas_signal_is_seen_within_read_cache(
    store: SqlStore, replica: SqlStore
) -> None:
    evidence = StoredEvidence(store, read_cache=60)
    assert [s.uid for s in evidence.touching(KEYS, NOW)] == []
    replica.upsert_signals([signal("edr:9")], NOW)  # not this process: no in-process generation
    assert [s.uid for s in evidence.touching(KEYS, NOW + timedelta(seconds=1))] == []  # cached
    later = NOW + timedelta(seconds=61)
    assert [s.uid for s in evidence.touching(KEYS, later)] == ["edr:9"]


def test_a_quiet_store_is_asked_its_counter_not_every_targets_signals(store: SqlStore) -> None:
    store.upsert_signals([signal("edr:1")], NOW)
    reads: list[tuple[str, ...]] = []
    loads = store.signals_touching

    def counted(keys: Iterable[str]) -> tuple[Signal, ...]:
        keys = list(keys)
        reads.append(tuple(keys))
        return loads(keys)

    store.signals_touching = counted  # type: ignore[method-assign]
    evidence = StoredEvidence(store, read_cache=0.5)
    for step in range(10):  # ten read_cache periods, nothing written
        found = evidence.touching(KEYS, NOW + timedelta(seconds=step))
        assert [s.uid for s in found] == ["edr:1"]
    assert reads == [KEYS]
    store.upsert_signals([signal("edr:2")], NOW)  # this process's write: seen at once
    found = evidence.touching(KEYS, NOW + timedelta(seconds=10))
    assert [s.uid for s in found] == ["edr:1", "edr:2"]
