"""TouchingCache: reused only at the same signal generation, within ttl on both clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clearance.model.signal import Signal
from clearance.store.read_cache import TouchingCache

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
KEYS = ("host:node-a", "image:ghcr.io/acme/web:2.0")


class Loads:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, keys: list[str]) -> tuple[Signal, ...]:
        self.count += 1
        assert keys == sorted(keys)
        return ()


def test_reused_at_the_same_generation_within_ttl() -> None:
    cache, load = TouchingCache(0.5, lambda: 7), Loads()
    cache.get(KEYS, T0, load)
    cache.get(KEYS, T0 + timedelta(seconds=0.2), load)
    assert load.count == 1
    cache.get(KEYS[:1], T0, load)  # other keys, other entry
    assert load.count == 2


def test_a_new_generation_is_read_again() -> None:
    generation = [1]
    cache, load = TouchingCache(60, lambda: generation[0]), Loads()
    cache.get(KEYS, T0, load)
    generation[0] = 2  # a signal write in this process
    cache.get(KEYS, T0, load)
    cache.get(KEYS, T0, load)
    assert load.count == 2


def test_stale_on_the_service_clock_either_way() -> None:
    cache, load = TouchingCache(0.5, lambda: 1), Loads()
    cache.get(KEYS, T0, load)
    cache.get(KEYS, T0 + timedelta(seconds=0.5), load)  # ttl passed for the decision's time
    assert load.count == 2
    cache.get(KEYS, T0 + timedelta(seconds=0.1), load)  # earlier than the entry: not reused
    assert load.count == 3
    cache.get(KEYS, T0 + timedelta(seconds=0.6), load)  # ... and it did not evict the newer one
    assert load.count == 3


def test_off_without_ttl_or_generation() -> None:
    for cache in (TouchingCache(0, lambda: 1), TouchingCache(0.5, None)):
        load = Loads()
        cache.get(KEYS, T0, load)
        cache.get(KEYS, T0, load)
        assert load.count == 2
