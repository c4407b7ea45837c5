"""Approvals that may count for a decision, in one indexed query on the SQL store.

The :class:`~clearance.store.interface.Store` contract lists approvals one decision at a time;
asking it for each earlier decision of a busy target costs a query (and a record parse) per
decision, on every ask. On the SQL store we join approvals to the decision log's filter columns
(``target_key``, ``environment``, ``at``, indexed) instead. Any other store takes the generic path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
