"""Correlation: which signals touch what a deployment touches.

:class:`SignalIndex` files every signal under the index keys of its assets
(:func:`clearance.model.assets.index_keys`). Matching an exposure looks up each exposed asset's
keys, so its cost grows with the number of signals that touch the target, never with the total
held. A signal reached through several assets is reported once, at its closest proximity.

An exposure's *footprint* is what every decision about it derives from its assets alone: the
index keys to look up, the assets' lines in the inputs digest, the count by proximity. For a
200-asset exposure that was ~150 µs of every decision, yet a target's exposure rarely changes
between decisions, so it is computed once per distinct content and kept in a bounded cache.
The cache is keyed by content, not identity: an inventory may answer each request with a new
asset tuple equal to the last (the Kubernetes inventory does). The key is each asset's
``(proximity, kind, value, via)``, exactly what the derived data depends on
(``tests/property/test_footprint.py`` checks it against the uncached derivation). The exposure
also memoizes its footprint, so the users within one decision build the key once. (An identity
memo of the asset tuple, as model/memo.py offers, measured slower for new tuples: keeping 512 of
them alive, and freeing the oldest inside the next decision, cost more than the key it saves.)
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

import msgspec

from clearance.model.assets import AssetKind, AssetRef, compatible, index_keys
from clearance.model.signal import Signal, fold
from clearance.model.snapshot import Match
from clearance.model.target import ExposedAsset, Exposure, Proximity


class SignalIndex:
    """Signals by asset key. Adding a signal with a known uid folds the two copies
    (:func:`clearance.model.signal.fold`), as the store does."""

    def __init__(self, signals: Iterable[Signal] = ()) -> None:
        self._by_key: defaultdict[str, dict[str, tuple[Signal, AssetRef]]] = defaultdict(dict)
        self._by_uid: dict[str, Signal] = {}
        for signal in signals:
            self.add(signal)

    def __len__(self) -> int:
        return len(self._by_uid)

    def signals(self) -> tuple[Signal, ...]:
        return tuple(self._by_uid.values())

    def touching(self, keys: Iterable[str]) -> tuple[Signal, ...]:
        """Signals filed under any of ``keys``, once each, by uid (what the store's asset index
        answers for the same keys)."""
        found: dict[str, Signal] = {}
        for key in keys:
            for uid, (signal, _) in self._by_key.get(key, {}).items():
                found[uid] = signal
        return tuple(found[uid] for uid in sorted(found))

    def add(self, signal: Signal) -> None:
        known = self._by_uid.get(signal.uid)
        if known is not None:
            signal = fold(known, signal)
            self.remove(signal.uid)
        self._by_uid[signal.uid] = signal
        for ref in signal.assets:
            for key in index_keys(ref):
                # One entry per (key, uid): a signal naming both web-1 and web-1.corp is kept
                # once under host:web-1, with the first asset that put it there.
                self._by_key[key].setdefault(signal.uid, (signal, ref))

    def replace(self, signal: Signal) -> None:
        """Put ``signal`` in place of the held copy with its uid (an annotated copy: no fold)."""
        self.remove(signal.uid)
        self.add(signal)

    def remove(self, uid: str) -> None:
        signal = self._by_uid.pop(uid, None)
        if signal is None:
            return
        for ref in signal.assets:
            for key in index_keys(ref):
                bucket = self._by_key.get(key)
                if bucket is not None:
                    bucket.pop(uid, None)
                    if not bucket:
                        del self._by_key[key]

    def match(self, exposure: Exposure) -> tuple[Match, ...]:
        """Every signal touching the exposure, once, at its closest proximity, ordered by uid."""
        best: dict[str, tuple[Signal, Proximity, ExposedAsset]] = {}
        assets = exposure.assets
        by_key = self._by_key
        # The keys both the exposure (its footprint, computed once per exposure content) and
        # the index hold, by one set intersection in C that walks the exposure's keys (or the
        # index's, when fewer) however many the index holds; then only the hits are visited.
        # The closest match wins whatever the order, so the result is the same as looking
        # each asset up in turn. Candidates are plain tuples; a Match is built once per
        # signal, at the end.
        found = footprint(exposure)
        lookups = found.lookups
        keys = found.key_set
        # From the smaller side: a decision's own index (snapshot.assemble builds one of the
        # few signals the store found) holds fewer keys than a 200-asset exposure.
        hits = keys.intersection(by_key) if len(by_key) < len(keys) else keys & by_key.keys()
        for key in hits:
            positions, exact = lookups[key]
            for uid, (signal, ref) in by_key[key].items():
                for i in positions:
                    exposed = assets[i]
                    if not exact and not _touches(signal, ref, exposed.ref):
                        continue
                    current = best.get(uid)
                    if current is None or (exposed.proximity, exposed) < current[1:]:
                        best[uid] = (signal, exposed.proximity, exposed)
        # Match's fields in order: its __new__ (one more Python frame) would build this tuple.
        return tuple([_new_match(Match, best[uid]) for uid in sorted(best)])


_new_match = tuple.__new__


def _touches(signal: Signal, filed: AssetRef, exposed: AssetRef) -> bool:
    if compatible(filed, exposed):
        return True
    # The signal may name several assets under one key (web-1.lab and web-1.corp); the one it
    # was filed under is only the first, so check the others before saying no.
    return any(compatible(ref, exposed) for ref in signal.assets if ref is not filed)


# Distinct exposures kept. An entry for a 200-asset exposure holds ~40 KiB (mostly the key and
# the digest lines), so the cache stays under ~20 MiB however many targets are decided.
CACHE_SIZE = 512

_Asset = tuple[Proximity, AssetKind, str, str]  # what the footprint reads of an asset
_Content = tuple[_Asset, ...]
# Kinds filed under a key that several distinct assets share (a host's short name, a container
# id's prefix, an image's tag or digest), where compatible() must confirm a match. Any other
# kind's key is the reference itself (index_keys), so sharing it means naming the same asset.
_LOOSE = frozenset({AssetKind.HOST, AssetKind.CONTAINER, AssetKind.IMAGE})


class Footprint(msgspec.Struct, frozen=True):
    """What decisions derive from an exposure's assets.

    ``keys``: the sorted distinct index keys (what the store is asked for), ``key_set`` the
    same as a set. ``lookups``: per key, the positions in ``exposure.assets`` of the assets
    filed under it, and whether the key is exact (it names one asset, so whatever is filed
    under it matches).
    ``digest_lines``: the assets as :func:`clearance.engine.digest_inputs` hashes them.
    ``by_proximity``: how many assets at each proximity, in first-seen order.
    """

    keys: tuple[str, ...]
    key_set: frozenset[str]
    lookups: dict[str, tuple[tuple[int, ...], bool]]  # not to be changed: shared by decisions
    digest_lines: bytes
    by_proximity: tuple[tuple[str, int], ...]


def footprint(exposure: Exposure) -> Footprint:
    """The footprint of ``exposure``, from its own memo, the shared cache, or computed."""
    memo = exposure._footprint
    if memo:
        found: Footprint = memo[0]
        return found
    content = [(a.proximity, a.ref.kind, a.ref.value, a.via) for a in exposure.assets]
    found = _FOOTPRINTS.get(content)
    memo.append(found)
    return found


class _Footprints:
    """The bounded cache of footprints by exposure content.

    Found by a probe of a few assets (the count, the first, middle and last), then confirmed
    by comparing the whole content, so an entry is returned only for equal content: the probe
    saves hashing all 200 assets (an lru_cache hashes the whole key, then compares it too);
    two contents sharing a probe only displace each other. Thread-safe as IdentityMemo is: a
    race at worst derives twice.
    """

    __slots__ = ("_entries", "_lock", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[int, tuple[list[_Asset], Footprint]] = {}
        self._lock = threading.Lock()

    def get(self, content: list[_Asset]) -> Footprint:
        n = len(content)
        probe = hash((n, content[0], content[n // 2], content[-1])) if n else 0
        entry = self._entries.get(probe)
        if entry is not None and entry[0] == content:
            return entry[1]
        found = _derive(tuple(content))
        with self._lock:
            self._entries.pop(probe, None)
            if len(self._entries) >= self._size:
                del self._entries[next(iter(self._entries))]  # the oldest: dicts keep order
            self._entries[probe] = (content, found)
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_FOOTPRINTS = _Footprints(CACHE_SIZE)


def _derive(content: _Content) -> Footprint:
    positions: dict[str, list[int]] = {}
    counts: dict[Proximity, int] = {}
    for i, (proximity, kind, value, _) in enumerate(content):
        for key in index_keys(AssetRef(kind, value)):
            positions.setdefault(key, []).append(i)
        counts[proximity] = counts.get(proximity, 0) + 1
    lines = sorted("|".join((p.label, k, v, via)) for p, k, v, via in content)
    return Footprint(
        keys=tuple(sorted(positions)),
        key_set=frozenset(positions),
        lookups={
            key: (tuple(at), content[at[0]][1] not in _LOOSE) for key, at in positions.items()
        },
        digest_lines="\n".join(lines).encode(),
        by_proximity=tuple((p.label, n) for p, n in counts.items()),
    )
