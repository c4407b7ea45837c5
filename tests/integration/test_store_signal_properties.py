"""Whatever order a source delivers a signal's versions in, the store keeps the same facts."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from builders import NOW, signal
from clearance.correlate import SignalIndex
from clearance.model import Signal, SignalStatus
from clearance.store.sql import SqlStore

_uids = itertools.count()

versions = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=48),  # first seen, hours before NOW
        st.integers(min_value=0, max_value=48),  # then seen for this many more hours
        st.sampled_from(list(SignalStatus)),
        st.integers(min_value=1, max_value=5),  # events folded into this copy
    ),
    min_size=1,
    max_size=6,
)


def _version(uid: str, first: int, span: int, status: SignalStatus, count: int) -> Signal:
    base = signal(uid)
    first_seen = NOW - timedelta(hours=first)
    return replace(
        base,
        first_seen=first_seen,
        last_seen=first_seen + timedelta(hours=span),
        status=status,
        count=count,
    )


def test_upserts_keep_earliest_first_seen_and_the_latest_version(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'p.db'}")

    @settings(max_examples=80, deadline=None)
    @given(versions, st.booleans())
    def check(specs: list[tuple[int, int, SignalStatus, int]], one_batch: bool) -> None:
        uid = f"edr:{next(_uids)}"
        batch = [_version(uid, *spec) for spec in specs]
        if one_batch:
            store.upsert_signals(batch, NOW)
        else:
            for item in batch:
                store.upsert_signals([item], NOW)
        stored = store.get_signal(uid)
        latest = max(s.last_seen for s in batch)
        assert stored.first_seen == min(s.first_seen for s in batch)
        assert stored.last_seen == latest
        # the status is one a version seen last reported
        assert stored.status in {s.status for s in batch if s.last_seen == latest}
        history = [status for _, status in store.signal_status_history(uid)]
        assert history[-1] == stored.status.value
        assert all(a != b for a, b in itertools.pairwise(history))  # a row per change only

    try:
        check()
    finally:
        store.close()


def test_a_local_check_folds_copies_exactly_as_the_store_does(tmp_path: Path) -> None:
    """The index a local check builds and the store the service reads keep the same signal
    (content, first_seen, count) for any sequence of copies: one fold, in the model."""
    store = SqlStore.open(f"sqlite:///{tmp_path / 'p.db'}")

    @settings(max_examples=80, deadline=None)
    @given(versions)
    def check(specs: list[tuple[int, int, SignalStatus, int]]) -> None:
        uid = f"edr:{next(_uids)}"
        copies = [_version(uid, *spec) for spec in specs]
        for copy in copies:  # one push or page after another, as sync and the receivers store
            store.upsert_signals([copy], NOW)
        index = SignalIndex()
        for copy in copies:
            index.add(copy)
        (local,) = index.signals()
        assert local.to_dict() == store.get_signal(uid).to_dict()

    try:
        check()
    finally:
        store.close()
