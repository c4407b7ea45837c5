"""Approvals that may count for a decision, in one indexed query on the SQL store.

The :class:`~clearance.store.interface.Store` contract lists approvals one decision at a time;
asking it for each earlier decision of a busy target costs a query (and a record parse) per
decision, on every ask. On the SQL store we join approvals to the decision log's filter columns
(``target_key``, ``environment``, ``at``, indexed) instead. Any other store takes the generic path.
"""

from __future__ import annotations

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


def _joined(
    store: SqlStore, environment: str, target_key: str, since: datetime, upto_seq: int
) -> list[Approval]:
    a, d = t.approvals, t.decisions
    query = (
        select(a)
        .join(d, d.c.decision_id == a.c.decision_id)
        .where(d.c.target_key == target_key, d.c.environment == environment, d.c.at >= since)
        .order_by(a.c.at, a.c.id)
    )
    if upto_seq:
        query = query.where(d.c.seq <= upto_seq)
    with store.db.read("list approvals for a target") as conn:
        rows = conn.execute(query).all()
    return [approval_from_row(r) for r in rows]
