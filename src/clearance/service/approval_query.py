"""Approvals that may count for a decision, in one indexed query on the SQL store.

The :class:`~clearance.store.interface.Store` contract lists approvals one decision at a time;
asking it for each earlier decision of a busy target costs a query (and a record parse) per
decision, on every ask. On the SQL store we join approvals to the decision log's filter columns
(``target_key``, ``environment``, ``at``, indexed) instead. Any other store takes the generic path.
:class:`RecentApprovals` keeps what it read for the service's ``read_cache``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from clearance.model.signal import utc
from clearance.store import tables as t
from clearance.store.grants import approval_from_row
from clearance.store.interface import Approval, DecisionFilter, Store
from clearance.store.sql import SqlStore

PRIOR_DECISIONS = 50  # generic path: earlier decisions of the target whose approvals may count


def approvals_for_target(
    store: Store, environment: str, target_key: str, since: datetime, upto_seq: int
) -> list[Approval]:
    """Approvals given on decisions about this target at or after ``since`` (seq ≤ upto_seq;
    0 means any), oldest first."""
    if isinstance(store, SqlStore):
        return _joined(store, environment, target_key, since, upto_seq)
    page = store.list_decisions(
        DecisionFilter(environment=environment, target_key=target_key, since=since),
        limit=PRIOR_DECISIONS,
    )
    found: list[Approval] = []
    for record in page.records:
        if upto_seq == 0 or record.seq <= upto_seq:
            found.extend(store.list_approvals(record.decision_id))
    return sorted(found, key=lambda a: (utc(a.at), a.id))


@dataclass(frozen=True, slots=True)
class TargetApproval:
    """An approval with the time and place in the log of the decision it was given on."""

    approval: Approval
    decision_at: datetime
    decision_seq: int


def target_approvals(
    store: SqlStore, environment: str, target_key: str, since: datetime
) -> list[TargetApproval]:
    """Approvals given on decisions about this target at or after ``since``, oldest first, each
    with its decision's time and seq (so a cache of them can filter for a later decision)."""
    a, d = t.approvals, t.decisions
    query = (
        select(a, d.c.at.label("decision_at"), d.c.seq.label("decision_seq"))
        .join(d, d.c.decision_id == a.c.decision_id)
        .where(d.c.target_key == target_key, d.c.environment == environment, d.c.at >= since)
        .order_by(a.c.at, a.c.id)
    )
    with store.db.read("list approvals for a target") as conn:
        rows = conn.execute(query).all()
    return [TargetApproval(approval_from_row(r), r.decision_at, int(r.decision_seq)) for r in rows]


def _joined(
    store: SqlStore, environment: str, target_key: str, since: datetime, upto_seq: int
) -> list[Approval]:
    return [
        r.approval
        for r in target_approvals(store, environment, target_key, since)
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

    def __init__(self, store: SqlStore, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[
            tuple[str, str], tuple[int, float, datetime, datetime, list[TargetApproval]]
        ] = {}

    def get(
        self, environment: str, key: str, since: datetime, upto_seq: int, now: datetime
    ) -> list[Approval]:
        generation = self.store.approvals_generation  # before loading: a later write invalidates
        entry = self._entries.get((environment, key))
        rows: list[TargetApproval] | None = None
        if entry is not None:
            at_generation, loaded_at, loaded_for, loaded_since, cached = entry
            moved = (now - loaded_for).total_seconds()
            if (
                at_generation == generation
                and time.monotonic() - loaded_at < self.ttl
                and 0 <= moved < self.ttl
                and since >= loaded_since
            ):
                rows = cached
        if rows is None:
            # From a little earlier than asked, so a decision taken a moment before this one
            # (another thread's) is answered from the entry too; filtered below.
            loaded_since = since - timedelta(seconds=self.ttl)
            rows = target_approvals(self.store, environment, key, loaded_since)
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
                    )
        return [
            r.approval
            for r in rows
            if r.decision_at >= since and (not upto_seq or r.decision_seq <= upto_seq)
        ]
