"""Work derived from an immutable value, done once while the same object keeps coming back.

A target asked again and again resolves to the *same* objects while nothing about it changes:
the static inventory keeps each target's asset tuple, the service's read caches keep the agent
index and the signals, and a snapshot's exposure dict is the one the next decision's drift check
reads back. What a decision derives from them (the exposure's sorted JSON form and canonical
bytes, its hosts' coverage, the images a recorded exposure ran) is the same while they are, so
it is kept here, keyed by the objects' *identity* — no hashing of a 200-asset tuple — for the
last few hundred keys.

Correctness rests on two rules: the key objects are immutable (tuples of frozen values, or
dicts and lists nobody mutates once built: a snapshot's JSON form is only serialized and read),
and an entry holds its key objects, so an id cannot be reused by another object while its entry
lives. A miss only recomputes; values are equal whether cached or not (property tests compare).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class IdentityMemo(Generic[V]):
    """``get(keys, make)``: ``make()`` once per tuple of key objects (by identity), kept for
    the last ``size`` distinct keys. Thread-safe; a race at worst computes twice."""

    __slots__ = ("_entries", "_lock", "_size")

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._entries: dict[tuple[int, ...], tuple[tuple[object, ...], V]] = {}
        self._lock = threading.Lock()

    def get(self, keys: tuple[object, ...], make: Callable[[], V]) -> V:
        ids = tuple(map(id, keys))
        entry = self._entries.get(ids)
        if entry is not None and all(a is b for a, b in zip(entry[0], keys, strict=True)):
            return entry[1]
        value = make()
        with self._lock:
            if len(self._entries) >= self._size:
                del self._entries[next(iter(self._entries))]  # the oldest: dicts keep order
            self._entries[ids] = (keys, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
