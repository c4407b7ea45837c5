"""Signed webhook deliveries are claimed once, across connection pools (replicas) too."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from builders import NOW
from clearance.store.sql import SqlStore


def test_a_delivery_is_claimed_once_and_remembered(store: SqlStore) -> None:
    assert store.claim_delivery("github", "d-1", NOW) is None
    assert store.claim_delivery("github", "d-1", NOW + timedelta(days=400)) == NOW
    assert store.claim_delivery("github", "d-2", NOW) is None
    assert store.claim_delivery("gitlab", "d-1", NOW) is None  # each integration its own ids


def test_concurrent_claims_of_one_delivery_let_exactly_one_through(store_url: str) -> None:
    SqlStore.open(store_url).close()
    replicas = [SqlStore.open(store_url, migrate=False) for _ in range(10)]
    start = threading.Barrier(len(replicas))

    def claim(replica: SqlStore) -> bool:
        start.wait()
        return replica.claim_delivery("github", "raced", NOW) is None

    try:
        with ThreadPoolExecutor(len(replicas)) as pool:
            first = list(pool.map(claim, replicas))
    finally:
        for replica in replicas:
            replica.close()
    assert first.count(True) == 1
