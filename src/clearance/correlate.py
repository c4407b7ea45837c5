"""Correlation: which signals touch what a deployment touches.

:class:`SignalIndex` files every signal under the index keys of its assets
(:func:`clearance.model.assets.index_keys`). Matching an exposure looks up each exposed asset's
keys, so its cost grows with the number of signals that touch the target, never with the total
held. A signal reached through several assets is reported once, at its closest proximity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from clearance.model.assets import AssetRef, compatible, index_keys
from clearance.model.signal import Signal, fold
from clearance.model.snapshot import Match
from clearance.model.target import Exposure


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
        best: dict[str, Match] = {}
        for exposed in exposure.assets:
            for key in index_keys(exposed.ref):
                bucket = self._by_key.get(key)
                if not bucket:
                    continue
                for uid, (signal, ref) in bucket.items():
                    if not _touches(signal, ref, exposed.ref):
                        continue
                    current = best.get(uid)
                    if current is None or (exposed.proximity, exposed) < (
                        current.proximity,
                        current.matched,
                    ):
                        best[uid] = Match(
                            signal=signal, proximity=exposed.proximity, matched=exposed
                        )
        return tuple(best[uid] for uid in sorted(best))


def _touches(signal: Signal, filed: AssetRef, exposed: AssetRef) -> bool:
    if compatible(filed, exposed):
        return True
    # The signal may name several assets under one key (web-1.lab and web-1.corp); the one it
    # was filed under is only the first, so check the others before saying no.
    return any(compatible(ref, exposed) for ref in signal.assets if ref is not filed)
