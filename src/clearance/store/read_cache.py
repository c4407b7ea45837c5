"""Read caches over the store: what every decision reads but rarely changes.

:class:`Recent` keeps one value (source health, exceptions, break-glass grants) for ``ttl``
seconds, dropped at once by this process's own writes. An entry is fresh only while both clocks
agree it is: the process's monotonic clock (so another replica's write is seen within ``ttl``)
and the service clock decisions are made at (so a decision "as of" a later time never reads data
cached for an earlier one). ``ttl = 0`` turns the cache off.

:class:`TouchingCache` keeps the signals touching a target's index keys, a decision's main
store read. A webhook asks about the same few workloads over and over (every replica set, every
retry), and each ask read the same rows and parsed the same JSON into fresh ``Signal`` objects,
whose content digests (memoized per object) were then computed again. Entries are the parsed
signals, shared by every decision that asks for the same keys, and are fresh only while:

* the store's ``signals_generation`` is the one read before loading them: this process's own
  signal writes (``clearance sync`` in the server, ``POST /v1/signals``) are seen at once;
* as for :class:`Recent`, less than ``ttl`` seconds have passed on both clocks since the load.

Where the store also keeps a database-wide change counter (``signals_changes``: bumped by the
database's triggers on every signal write, by any process), an entry is not re-read when ``ttl``
passes: it stays fresh while that counter, itself read at most once per ``ttl`` (``changes``),
is the one it was loaded at. Another process's write is still seen within ``ttl``; a quiet store
costs one counter read per ``ttl`` instead of one query per target (50 targets asked 8 times a
second each re-read a quarter of the time).

Stores without a ``signals_generation`` (and ``ttl = 0``) are read every time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from clearance.model.signal import Signal

T = TypeVar("T")
MAX_ENTRIES = 4096  # distinct key sets kept; beyond, start over (entries live < ttl anyway)

Loader = Callable[[list[str]], tuple[Signal, ...]]


def fresh(ttl: float, at_changes: int, changes: int, loaded_at: float, moved: float) -> bool:
    """Whether an entry may still be served, besides its in-process generation: never for an
    earlier service time (``moved`` < 0); while the database's counter (``changes``, -1 where
    none is kept) is the one it was loaded at; else for ``ttl`` on both clocks."""
    if moved < 0:
        return False
    if changes >= 0:
        return at_changes == changes
    return time.monotonic() - loaded_at < ttl and moved < ttl


class Recent(Generic[T]):
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entry: tuple[float, datetime, T] | None = None

    def get(self, now: datetime, load: Callable[[], T]) -> T:
        if self.ttl > 0:
            with self._lock:
                entry = self._entry
            if entry is not None:
                loaded_at, loaded_for, value = entry
                age = time.monotonic() - loaded_at
                moved = (now - loaded_for).total_seconds()
                if age < self.ttl and 0 <= moved < self.ttl:
                    return value
        value = load()
        if self.ttl > 0:
            with self._lock:
                self._entry = (time.monotonic(), now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entry = None


class TouchingCache:
    def __init__(
        self,
        ttl: float,
        generation: Callable[[], int] | None,
        changes: Callable[[datetime], int] | None = None,
    ) -> None:
        self.ttl = ttl
        self._generation = generation if ttl > 0 else None
        self._changes = changes
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, ...], tuple[int, int, float, datetime, tuple[Signal, ...]]]
        self._entries = {}

    def get(self, keys: tuple[str, ...], now: datetime, load: Loader) -> tuple[Signal, ...]:
        """The signals touching ``keys`` (sorted), from the cache when still fresh."""
        if self._generation is None:
            return load(list(keys))
        generation = self._generation()  # read before loading: a later write invalidates
        changes = self._changes(now) if self._changes is not None else -1
        entry = self._entries.get(keys)
        if entry is not None:
            at_generation, at_changes, loaded_at, loaded_for, signals = entry
            moved = (now - loaded_for).total_seconds()
            if at_generation == generation and fresh(
                self.ttl, at_changes, changes, loaded_at, moved
            ):
                return signals
        signals = load(list(keys))
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            kept = self._entries.get(keys)
            if kept is None or kept[3] <= now:  # a late decision does not evict a newer entry
                self._entries[keys] = (generation, changes, time.monotonic(), now, signals)
        return signals

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


V = TypeVar("V")


class Keyed(Generic[V]):
    """One value per key (a target's last decision, its post-deploy checks), fresh while:

    * its ``generation`` (what this process's own writes bump, as the caller reads it before
      loading) is still the one it was loaded at: those writes are seen at once;
    * as for :class:`Recent`, less than ``ttl`` seconds have passed on both clocks since it was
      loaded, so another replica's write is seen within ``ttl``.

    :meth:`put` keeps what this process just wrote (its last decision of a target) without a
    read; ``order`` (the record's ``seq``) keeps a slower writer from replacing a newer value.
    ``ttl = 0`` turns the cache off.
    """

    def __init__(self, ttl: float, changes: Callable[[datetime], int] | None = None) -> None:
        self.ttl = ttl
        self._changes = changes
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, float, datetime, int, V, int]] = {}

    def get(self, key: str, now: datetime, generation: int, load: Callable[[], tuple[int, V]]) -> V:
        """The value for ``key``; ``load`` returns (its order, the value) from the store."""
        if self.ttl <= 0:
            return load()[1]
        changes = self._changes(now) if self._changes is not None else -1
        entry = self._entries.get(key)
        if entry is not None:
            at_generation, loaded_at, loaded_for, _, value, at_changes = entry
            moved = (now - loaded_for).total_seconds()
            if at_generation == generation and fresh(
                self.ttl, at_changes, changes, loaded_at, moved
            ):
                return value
        order, value = load()
        self._keep(key, (generation, time.monotonic(), now, order, value, changes))
        return value

    def put(self, key: str, now: datetime, generation: int, order: int, value: V) -> None:
        if self.ttl > 0:
            # What this process just wrote: fresh by age only (no counter was read for it).
            self._keep(key, (generation, time.monotonic(), now, order, value, -2))

    def _keep(self, key: str, entry: tuple[int, float, datetime, int, V, int]) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            kept = self._entries.get(key)
            # A late reader or writer does not replace a newer value (order), nor one loaded
            # for a later moment of the service clock.
            if kept is None or (entry[0], entry[3], entry[2]) >= (kept[0], kept[3], kept[2]):
                self._entries[key] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class StoredChanges:
    """The database's change counters (``Store.stored_changes``), read at most once per ``ttl``
    for every cache of the process: :meth:`of` gives a cache its kind's counter."""

    def __init__(self, read: Callable[[], dict[str, int]] | None, ttl: float) -> None:
        self._read = read if ttl > 0 else None
        self._recent: Recent[dict[str, int]] = Recent(ttl)

    def of(self, name: str) -> Callable[[datetime], int] | None:
        """``now -> counter`` (-1 where the database keeps none), or None without counters."""
        read = self._read
        if read is None:
            return None
        return lambda now: self._recent.get(now, read).get(name, -1)
