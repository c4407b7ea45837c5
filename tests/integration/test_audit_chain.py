"""The decision log is one unbroken hash chain, and tampering with it is named by ``verify``."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from clearance.audit.verify import Break, verify
from clearance.model import canonical_json
from clearance.store.appender import ChainAppender, _Pending
from clearance.store.chain import body_hash, prepare
from clearance.store.interface import GENESIS_HASH, AuditRecord, StoreError, StoreUnavailableError
from clearance.store.sql import SqlStore
from store_samples import append, sample


def _fill(store: SqlStore, n: int) -> list[str]:
    return [append(store, sample(i)).decision_id for i in range(n)]


def _sql(store: SqlStore, statement: str, **params: object) -> None:
    with store.db.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_records_chain_from_genesis_and_verify(store: SqlStore) -> None:
    first = append(store, sample(0))
    second = append(store, sample(1))
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.hash == body_hash(canonical_json(first.body()))
    result = verify(store)
    assert result.ok, result.broken
    assert (result.records, result.head_hash) == (2, second.hash)


def test_stored_record_holds_the_whole_evidence(store: SqlStore) -> None:
    s = sample(0)
    record = append(store, s)
    stored = store.get_decision(s.decision.id)
    assert stored == record
    assert stored.decision == s.decision.to_dict()
    assert stored.snapshot == s.snapshot.to_dict()
    assert stored.caller == {"subject": "dev@example.com", "method": "token", "token_id": "tok_1"}
    assert store.get_policy(s.decision.policy_digest).startswith(b"environments:")


def test_appending_the_same_decision_again_returns_the_first_record(store: SqlStore) -> None:
    s = sample(0)
    first = append(store, s)
    again = append(store, s)
    assert again == first
    assert verify(store).records == 1


def test_edited_record_is_named(store: SqlStore) -> None:
    ids = _fill(store, 4)
    _sql(
        store,
        'UPDATE decisions SET record = REPLACE(record, \'"verdict":"block"\','
        ' \'"verdict":"proceed"\') WHERE seq = 3',
    )
    result = verify(store)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.decision_id) == (3, ids[2])
    assert result.broken.kind is Break.EDITED
    assert result.records == 2


def test_edited_filter_column_is_named(store: SqlStore) -> None:
    _fill(store, 3)
    _sql(store, "UPDATE decisions SET verdict = 'proceed' WHERE seq = 2")
    result = verify(store)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.kind) == (2, Break.EDITED)
    assert "column verdict" in result.broken.detail


def test_deleted_record_is_named(store: SqlStore) -> None:
    _fill(store, 5)
    _sql(store, "DELETE FROM decisions WHERE seq = 3")
    result = verify(store)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.kind) == (4, Break.DELETED)
    assert "seq 3 missing" in result.broken.detail


def test_deleted_tail_is_named(store: SqlStore) -> None:
    _fill(store, 3)
    _sql(store, "DELETE FROM decisions WHERE seq = 3")
    result = verify(store)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.kind) == (3, Break.DELETED)
    assert "end of the log" in result.broken.detail


def test_reordered_records_are_named(store: SqlStore) -> None:
    _fill(store, 4)
    _sql(store, "UPDATE decisions SET seq = -2 WHERE seq = 2")
    _sql(store, "UPDATE decisions SET seq = 2 WHERE seq = 3")
    _sql(store, "UPDATE decisions SET seq = 3 WHERE seq = -2")
    result = verify(store)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.kind) == (2, Break.REORDERED)
    assert "sealed as seq 3" in result.broken.detail


def test_rewritten_and_rehashed_record_breaks_the_next_link(store: SqlStore) -> None:
    _fill(store, 3)
    body = store.get_decision(store.list_decisions(limit=3).records[1].decision_id).to_dict()
    body.pop("hash")
    body["caller"] = {"subject": "someone-else", "method": "token"}
    forged = canonical_json(body)
    _sql(
        store,
        "UPDATE decisions SET record = :r, hash = :h WHERE seq = 2",
        r=forged.decode(),
        h=body_hash(forged),
    )
    result = verify(store)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.kind) == (3, Break.UNLINKED)


def test_concurrent_appends_extend_one_chain(store: SqlStore) -> None:
    samples = [sample(i) for i in range(160)]
    records: list[AuditRecord] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(part: int) -> None:
        try:
            for s in samples[part::32]:
                record = append(store, s)
                with lock:
                    records.append(record)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(p,)) for p in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(records) == 160
    seqs = sorted(r.seq for r in records)
    assert seqs == list(range(1, 161))
    result = verify(store)
    assert result.ok, result.broken
    assert result.records == 160
    for record in records:
        assert store.get_decision(record.decision_id) == record


def test_a_group_with_a_repeat_still_records_its_neighbours(store: SqlStore) -> None:
    first = append(store, sample(0))
    group = [
        _Pending(prepare(s.decision, s.snapshot, s.caller, s.decision.at), None, s.decision.at)
        for s in (sample(1), sample(0), sample(2))
    ]
    store._appender._commit_group(group, careful=False)
    assert [p.error for p in group] == [None, None, None]
    records = [p.record for p in group]
    assert records[1] == first
    assert [r.seq for r in records if r is not None] == [2, 1, 3]
    assert verify(store).records == 3


def test_many_threads_appending_one_decision_record_it_once(store: SqlStore) -> None:
    s = sample(0)
    results: list[AuditRecord] = []
    threads = [threading.Thread(target=lambda: results.append(append(store, s))) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16
    assert {r.hash for r in results} == {results[0].hash}
    assert verify(store).records == 1


def test_an_overloaded_log_refuses_at_once_and_loses_nothing(store: SqlStore) -> None:

    appender = ChainAppender(store.db, max_pending=2)
    store._appender = appender
    waiting: list[AuditRecord] = []
    with appender._leader:  # a commit in progress: newcomers must wait
        threads = [
            threading.Thread(target=lambda i=i: waiting.append(append(store, sample(i))))
            for i in range(2)
        ]
        for thread in threads:
            thread.start()
        while len(appender._queue) < 2:
            threading.Event().wait(0.001)
        with pytest.raises(StoreUnavailableError, match="busy"):
            append(store, sample(9))
    for thread in threads:
        thread.join()
    assert len(waiting) == 2
    result = verify(store)
    assert (result.ok, result.records) == (True, 2)


def test_a_mangled_record_reads_as_a_store_error_naming_verify(store: SqlStore) -> None:
    s = sample(0)
    append(store, s)
    _sql(store, "UPDATE decisions SET record = 'not json' WHERE seq = 1")
    with pytest.raises(StoreError, match="audit verify"):
        store.get_decision(s.decision.id)
    result = verify(store)
    assert result.broken is not None
    assert result.broken.kind is Break.EDITED


def test_a_record_slipped_in_past_the_head_is_named(store: SqlStore) -> None:
    _fill(store, 2)
    _sql(
        store,
        "INSERT INTO decisions (seq, decision_id, at, environment, verdict, target_key, actor,"
        " policy_digest, prev_hash, hash, record) SELECT 3, 'dec_forged', at, environment,"
        " verdict, target_key, actor, policy_digest, hash, hash, record FROM decisions"
        " WHERE seq = 2",
    )
    result = verify(store)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.kind) == (3, Break.UNLINKED)


def test_verify_during_appends_sees_a_consistent_prefix(store: SqlStore) -> None:
    _fill(store, 5)
    stop = threading.Event()

    def keep_appending() -> None:
        i = 100
        while not stop.is_set():
            append(store, sample(i))
            i += 1

    writer = threading.Thread(target=keep_appending)
    writer.start()
    try:
        results = [verify(store) for _ in range(5)]
    finally:
        stop.set()
        writer.join()
    assert all(r.ok for r in results), [r.broken for r in results if not r.ok]
    assert verify(store).ok
