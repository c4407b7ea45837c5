"""What the console's pages show, read from the service: plain data for the templates.

The queue is every ``approve`` decision still waiting (the newest decision of each target only:
an older one of the same target is superseded), grouped by environment, oldest first. The
decision page shows what the API's ``GET /v1/decisions/{id}`` returns, with the arithmetic of
``clearance explain`` and the callbacks and notifications sent for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clearance.model.decision import Decision
from clearance.model.signal import format_time, utc
from clearance.model.status import ApprovalStatus
from clearance.policy.freshness import describe_age
from clearance.render.text import render_explanation
from clearance.service.approvals import target_key
from clearance.service.decisions import DecisionService, Outcome
from clearance.service.notifications import shown
from clearance.service.signers import requested_by
from clearance.store.interface import DecisionFilter
from clearance.store.sql import SqlStore

QUEUE_SCAN = 500  # newest approve decisions read for the queue


@dataclass(frozen=True, slots=True)
class QueueRow:
    id: str
    at: str
    age: str
    requester: str | None
    target: str
    verdict: str
    score: float
    reasons: tuple[str, ...]
    required: int
    group: str | None
    approvers: tuple[str, ...]


def pending(
    decisions: DecisionService, store: SqlStore, now: datetime
) -> dict[str, list[QueueRow]]:
    """Environment → the decisions waiting on approval there, oldest first."""
    page = store.list_decisions(DecisionFilter(verdict="approve"), limit=QUEUE_SCAN)
    seen: set[tuple[str, str]] = set()
    rows: dict[str, list[QueueRow]] = {}
    for record in page.records:  # newest first: the first of a target is its current one
        environment = record.decision["target"]["environment"]
        key = (environment, target_key(record.decision))
        if key in seen:
            continue
        seen.add(key)
        # The record is in hand: its state without reading it again (as DecisionService.get).
        state = decisions.approvals.state(
            record, now, decisions.break_glass.active_for(record, now)
        )
        if state.status is not ApprovalStatus.PENDING_APPROVAL:
            continue
        decision = record.decision
        rows.setdefault(environment, []).append(
            QueueRow(
                id=record.decision_id,
                at=format_time(utc(record.at)),
                age=describe_age(max(int((utc(now) - utc(record.at)).total_seconds()), 0)),
                requester=requested_by(record),
                target=key[1],
                verdict=str(decision["verdict"]),
                score=float(decision["score"]),
                reasons=_top_reasons(decision["reasons"]),
                required=state.required,
                group=state.group,
                approvers=state.approvers,
            )
        )
    for waiting in rows.values():
        waiting.sort(key=lambda r: r.at)
    return dict(sorted(rows.items()))


@dataclass(frozen=True, slots=True)
class DecisionView:
    outcome: Outcome
    decision: dict[str, Any]
    status: str
    requester: str | None
    explanation: str
    callbacks: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    exposure: dict[str, Any]  # the snapshot's: every asset with its proximity and how it was found
    head: int  # the audit chain's last sequence number, to place this record in it

    @property
    def actionable(self) -> bool:
        """Approve and reject apply to an approve verdict still waiting; break-glass to any
        verdict that is not already cleared."""
        return self.outcome.state.status is ApprovalStatus.PENDING_APPROVAL


def decision_view(outcome: Outcome, store: SqlStore) -> DecisionView:
    decision = dict(outcome.record.decision)
    sources = [
        {**s, "age": _age(s.get("age_seconds")), "limit": _age(s.get("limit_seconds"))}
        for s in decision.get("sources", [])
    ]
    head = store.list_decisions(limit=1).records
    return DecisionView(
        outcome=outcome,
        decision=decision,
        status=outcome.state.status.value,
        requester=requested_by(outcome.record),
        explanation=render_explanation(Decision.from_dict(decision)),
        callbacks=[shown(c) for c in store.list_callbacks(decision_id=outcome.record.decision_id)],
        sources=sources,
        exposure=dict(outcome.record.snapshot.get("exposure") or {}),
        head=head[0].seq if head else outcome.record.seq,
    )


def _age(seconds: object) -> str:
    return "never" if not isinstance(seconds, int | float) else describe_age(int(seconds))


_RANK = {"block": 0, "approve": 1}


def _top_reasons(reasons: list[dict[str, Any]], count: int = 3) -> tuple[str, ...]:
    """What asks for the most first (block, then approve), in the decision's order otherwise."""
    ranked = sorted(reasons, key=lambda r: _RANK.get(str(r.get("verdict")), 2))
    return tuple(str(r["message"]) for r in ranked[:count])
