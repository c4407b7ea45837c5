"""Approvals that may count for a decision: those given on it or on earlier decisions of the
same target, read in one indexed query (:meth:`~clearance.store.interface.GrantStore.
target_approvals`). :class:`RecentApprovals` keeps what it read for the service's ``read_cache``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from clearance.store.interface import Approval, GrantStore, TargetApproval
from clearance.store.read_cache import fresh


def approvals_for_target(
    store: GrantStore, environment: str, target_key: str, since: datetime, upto_seq: int
) -> list[Approval]:
    """Approvals given on decisions about this target at or after ``since`` (seq ≤ upto_seq;
    0 means any), oldest first."""
    return [
        r.approval
        for r in store.target_approvals(environment, target_key, since)
        if not upto_seq or r.decision_seq <= upto_seq
    ]


class RecentApprovals:
    """Each target's approvals as read recently: every ``approve`` decision reads them, and a
    webhook asks about the same targets many times a second.

    An entry is fresh while the store's ``approvals_generation`` is the one read before loading
    it (this process's approvals apply at once) and, as in
    :class:`~clearance.store.read_cache.Recent`, for ``ttl`` seconds on both the monotonic and the
    service clock (another replica's approval is seen within ``ttl``). It holds the approvals on
    the target's decisions since some time, with each decision's time and seq, so a later
    decision (a later window start, a higher seq) is answered by filtering it.
    """

    MAX_ENTRIES = 4096

    def __init__(
        self, store: GrantStore, ttl: float, changes: Callable[[datetime], int] | None = None
    ) -> None:
        self.store = store
        self.ttl = ttl
        # The database's count of approval writes (read_cache.StoredChanges): while it stands
        # still an entry is served past ``ttl``, as the signal cache does.
        self._changes = changes
        self._lock = threading.Lock()
        self._entries: dict[
            tuple[str, str], tuple[int, float, datetime, datetime, list[TargetApproval], int]
        ] = {}

    def get(
        self, environment: str, key: str, since: datetime, upto_seq: int, now: datetime
    ) -> list[Approval]:
        generation = self.store.approvals_generation  # before loading: a later write invalidates
        changes = self._changes(now) if self._changes is not None else -1
        entry = self._entries.get((environment, key))
        rows: list[TargetApproval] | None = None
        if entry is not None:
            at_generation, loaded_at, loaded_for, loaded_since, cached, at_changes = entry
            moved = (now - loaded_for).total_seconds()
            if (
                at_generation == generation
                and fresh(self.ttl, at_changes, changes, loaded_at, moved)
                and since >= loaded_since
            ):
                rows = cached
        if rows is None:
            # From a little earlier than asked, so a decision taken a moment before this one
            # (another thread's) is answered from the entry too; filtered below.
            loaded_since = since - timedelta(seconds=self.ttl)
            rows = self.store.target_approvals(environment, key, loaded_since)
            with self._lock:
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
                kept = self._entries.get((environment, key))
                if kept is None or kept[2] <= now:  # a late decision does not evict a newer one
                    self._entries[(environment, key)] = (
                        generation,
                        time.monotonic(),
                        now,
                        loaded_since,
                        rows,
                        changes,
                    )
        return [
            r.approval
            for r in rows
            if r.decision_at >= since and (not upto_seq or r.decision_seq <= upto_seq)
        ]
