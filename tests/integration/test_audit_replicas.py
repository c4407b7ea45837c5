"""Several processes (API replicas) appending to one database still extend one chain."""

from __future__ import annotations

import multiprocessing
import threading

from clearance.audit.verify import verify
from clearance.store.sql import SqlStore
from store_samples import append, sample


def test_two_store_instances_share_one_chain(store: SqlStore, store_url: str) -> None:
    # Two engines with their own in-process locks: only the database serializes them
    # (SQLite's BEGIN IMMEDIATE; PostgreSQL's row lock on the chain head).
    other = SqlStore.open(store_url)
    try:
        threads = [
            threading.Thread(
                target=lambda st, part: [append(st, sample(i)) for i in range(part, 120, 8)],
                args=(store if part % 2 else other, part),
            )
            for part in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.close()
    result = verify(store)
    assert result.ok, result.broken
    assert result.records == 120


def _append_range(url: str, start: int, stop: int) -> None:
    replica = SqlStore.open(url, migrate=False)
    try:
        for i in range(start, stop):
            append(replica, sample(i))
    finally:
        replica.close()


def test_separate_processes_share_one_chain(store: SqlStore, store_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_append_range, args=(store_url, n * 40, n * 40 + 40))
        for n in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    result = verify(store)
    assert result.ok, result.broken
    assert result.records == 120
