"""Decision records store the parts that repeat (the snapshot's exposure, its matched signals)
once, by content — and every read, export and verification sees the body that was sealed, byte
for byte. An insider who edits or deletes a stored part is named by ``audit verify``.

Real decisions by the real engine, on a 200-asset target, appended to SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest
from sqlalchemy import text

from builders import NOW, exposure, fresh, signal, target
from clearance.audit.verify import Break, verify
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import ChangeInfo, Signal, Snapshot
from clearance.model.canonical import canonical_json
from clearance.store.chain import body_hash
from clearance.store.interface import Caller, StoreError
from clearance.store.sql import SqlStore
from store_samples import POLICY, POLICY_TEXT, Sample

PODS = tuple(f"pod:shop/api-{i}" for i in range(150))
HOSTS = tuple(f"host:node-{i}.eu-west-1.compute.internal" for i in range(50))
SIGNALS = tuple(signal(f"edr:{i}", assets=(PODS[i * 7],)) for i in range(12))


def _sample(i: int, signals: tuple[Signal, ...] = SIGNALS, pods: tuple[str, ...] = PODS) -> Sample:
    tgt = msgspec.structs.replace(
        target(), change=ChangeInfo(commit=f"c{i}", actor="dev@example.com")
    )
    exp = exposure(tgt, direct=pods, host=HOSTS)
    snap = Snapshot(exposure=exp, matches=SignalIndex(list(signals)).match(exp), sources=(fresh(),))
    now = NOW + timedelta(seconds=i)
    return Sample(decide(tgt, snap, POLICY, now), snap, Caller("dev", "token", token_id="tok_1"))


def _append(store: SqlStore, s: Sample) -> str:
    return store.append_decision(s.decision, s.snapshot, s.caller, s.decision.at, POLICY_TEXT).hash


def _stored(store: SqlStore) -> tuple[list[str], int]:
    with store.db.engine.connect() as conn:
        records = [r for (r,) in conn.execute(text("SELECT record FROM decisions ORDER BY seq"))]
        parts = conn.execute(text("SELECT count(*) FROM record_parts")).scalar_one()
    return records, int(parts)


def test_repeating_parts_are_stored_once_and_every_read_gives_the_sealed_bytes(
    store: SqlStore,
) -> None:
    hashes = [_append(store, _sample(i)) for i in range(3)]
    changed = _sample(3, SIGNALS[:5])  # other matches, the same exposure
    hashes.append(_append(store, changed))
    records, parts = _stored(store)
    assert parts == 3  # the exposure once, the two sets of matches once each
    whole = len(canonical_json(store.get_decision(records_id(store, 1)).body()))
    assert all("\x01" in r and len(r) < whole / 3 for r in records)
    for record in [*store.iter_records(), *store.list_decisions().records]:
        assert body_hash(canonical_json(record.body())) == record.hash
        assert record.hash in hashes
    assert verify(store).ok


def records_id(store: SqlStore, seq: int) -> str:
    with store.db.engine.connect() as conn:
        found = conn.execute(text("SELECT decision_id FROM decisions WHERE seq = :s"), {"s": seq})
        return str(found.scalar_one())


def test_an_edited_part_is_named_by_verify_and_never_read_as_the_record(store: SqlStore) -> None:
    pods = tuple(f"pod:shop/edited-{i}" for i in range(150))  # parts no read has kept
    for i in range(2):
        _append(store, _sample(i, pods=pods))
    with store.db.engine.begin() as conn:  # the insider renames pods in the stored exposure
        conn.execute(text("UPDATE record_parts SET text = replace(text, 'edited-1', 'edited-X')"))
    result = verify(store)
    assert not result.ok
    assert result.broken is not None
    assert (result.broken.seq, result.broken.kind) == (1, Break.EDITED)
    assert "stored apart" in result.broken.detail
    with pytest.raises(StoreError, match="audit verify"):
        store.get_decision(records_id(store, 1))


def test_a_part_read_before_an_edit_is_still_the_sealed_one(store: SqlStore) -> None:
    """Reads keep the parts they verified: an edit after that is never returned (the sealed
    bytes are), and verify, which reads the database, still names it."""
    pods = tuple(f"pod:shop/kept-{i}" for i in range(150))
    _append(store, _sample(0, pods=pods))
    decision_id = records_id(store, 1)
    sealed = store.get_decision(decision_id)
    with store.db.engine.begin() as conn:
        conn.execute(text("UPDATE record_parts SET text = replace(text, 'kept-1', 'kept-X')"))
    again = store.get_decision(decision_id)
    assert again.body() == sealed.body()
    assert body_hash(canonical_json(again.body())) == again.hash
    result = verify(store)
    assert result.broken is not None
    assert "stored apart" in result.broken.detail


def test_a_deleted_part_is_named_by_verify(store: SqlStore) -> None:
    _append(store, _sample(0))
    with store.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM record_parts"))
    result = verify(store)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.kind) == (1, Break.EDITED)
    assert "missing or was altered" in result.broken.detail


def test_a_part_another_process_stored_is_not_stored_twice(store_url: str) -> None:
    """Two appenders (two replicas) over one database: the second finds the part stored."""
    first, second = SqlStore.open(store_url), SqlStore.open(store_url)
    try:
        _append(first, _sample(0))
        _append(second, _sample(1))
        _append(first, _sample(2))
        records, parts = _stored(first)
        assert len(records) == 3
        assert parts == 2  # exposure, matches
        assert verify(first).ok
    finally:
        first.close()
        second.close()
