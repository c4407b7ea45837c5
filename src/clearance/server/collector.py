"""The service's full garbage collections, made rare.

Under steady load a serving process keeps a large heap of long-lived objects (the app, the read
caches, kept JSON), and CPython's full (generation 2) collection walks all of it: 36–75 ms per
collection here, several times a minute at a few hundred decisions a second. Every request in
flight waits, so those pauses, not the CPU, set the service's p99 (docs/benchmarks.md, issue 17:
at 300 decisions/s p99 93 → 8 ms with this, at 400/s 324 → 75 ms). Young cyclic garbage is still
collected by the frequent young-generation passes; only cycles that survived two of them wait
longer for a full pass.
"""

from __future__ import annotations

import gc

# Young collections between full ones (CPython's default is 10).
FULL_COLLECTION_EVERY = 1000


def make_full_collections_rare() -> None:
    """For a serving process (``clearance serve`` and each of its workers), not a library user."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
