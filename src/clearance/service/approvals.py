"""N-of-M approvals, bound to the evidence the approver saw.

An approval records the decision's score and contributing signal uids. It counts toward a
decision about the same target (environment + ``cluster/namespace/kind/name``) only while:

* it has not expired (the policy's ``approvals.expires_after`` for the environment);
* every signal contributing to the decision was among those the approver saw (no new evidence);
* the decision's score is not above the approved score (the risk did not rise);
* the approver is not the one who requested the decision being cleared.

Each approval that no longer counts is reported with the reason, so a fresh decision says why
the earlier sign-off was voided. Distinct people count once each; one live rejection rejects.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from clearance.model.signal import format_time, utc
from clearance.policy.compiled import Policy
from clearance.policy.schema import duration_seconds
from clearance.service.approval_query import TargetApproval, approvals_for_target, target_approvals
from clearance.service.errors import RefusedError, StateError
from clearance.store.interface import (
    Approval,
    ApprovalOutcome,
    AuditRecord,
    BreakGlass,
    Caller,
    Store,
)
from clearance.store.sql import SqlStore


@dataclass(frozen=True, slots=True)
class Voided:
    approval_id: str
    approver: str
    decision_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ApprovalState:
    """Where a recorded decision stands. ``status`` and its exit code:

    ``proceed`` 0 · ``approved`` 0 · ``break_glass`` 0 · ``pending_approval`` 10 ·
    ``rejected`` 20 · ``block`` 20.
    """

    status: str
    required: int = 0
    group: str | None = None
    approvers: tuple[str, ...] = ()
    rejected_by: tuple[str, ...] = ()
    voided: tuple[Voided, ...] = ()
    break_glass: BreakGlass | None = None
    waited_seconds: float | None = None  # decision → the approval that completed it
    counted: tuple[Approval, ...] = field(default=(), repr=False)

    @property
    def exit_code(self) -> int:
        return {"pending_approval": 10, "rejected": 20, "block": 20}.get(self.status, 0)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "required": self.required,
            "group": self.group,
            "approvers": list(self.approvers),
            "rejected_by": list(self.rejected_by),
            "voided": [
                {
                    "approval": v.approval_id,
                    "approver": v.approver,
                    "decision": v.decision_id,
                    "reason": v.reason,
                }
                for v in self.voided
            ],
        }
        if self.break_glass is not None:
            g = self.break_glass
            data["break_glass"] = {
                "id": g.id,
                "requested_by": g.requested_by,
                "reason": g.reason,
                "ticket": g.ticket,
                "expires_at": format_time(g.expires_at),
                "confirmed_by": g.confirmed_by,
            }
        return data


def target_key(decision: Mapping[str, Any]) -> str:
    target = decision["target"]
    return f"{target['cluster']}/{target['namespace']}/{target['workload']}"


def identities(subject: str) -> set[str]:
    """The names one person goes by here: ``token:alice`` is also ``alice`` (a CI actor)."""
    return {subject, subject.removeprefix("token:")}


def requesters(record: AuditRecord) -> set[str]:
    """Who asked for this decision: the authenticated caller and the change's named actor,
    each under every name it goes by (so a personal token cannot approve its owner's deploy)."""
    names = identities(str(record.caller.get("subject")))
    actor = (record.decision["target"].get("change") or {}).get("actor")
    if actor:
        names |= identities(str(actor))
    return names


class ApprovalBook:
    def __init__(self, store: Store, policy: Policy, read_cache: float = 0.0) -> None:
        self.store = store
        self.policy = policy
        self.recent: RecentApprovals | None = None
        self.cache_reads(read_cache)

    def cache_reads(self, ttl: float) -> None:
        """Reuse a target's approvals for ``ttl`` seconds (the service's ``read_cache``); this
        process's own approvals apply at once. Only on the SQL store; ``0`` turns it off."""
        store = self.store
        self.recent = (
            RecentApprovals(store, ttl) if ttl > 0 and isinstance(store, SqlStore) else None
        )

    def answer(
        self,
        decision_id: str,
        caller: Caller,
        outcome: ApprovalOutcome,
        reason: str,
        now: datetime,
    ) -> Approval:
        """Record ``caller``'s approval or rejection of an ``approve`` decision.

        RefusedError: the caller requested it, or is not in the environment's approval group.
        StateError: the verdict is not ``approve``. ConflictError (store): answered already.
        """
        record = self.store.get_decision(decision_id)
        decision = record.decision
        if decision["verdict"] != "approve":
            raise StateError(
                f"decision {decision_id} has verdict {decision['verdict']!r}; only 'approve' "
                "verdicts take approvals (a block needs an exception or break-glass)"
            )
        if identities(caller.subject) & requesters(record):
            raise RefusedError(
                f"{caller.subject} requested decision {decision_id} (as its caller or its "
                "change's actor) and cannot approve or reject it: another person must"
            )
        env = self.policy.environment(decision["target"]["environment"])
        group = env.approvals.group
        if group is not None and group not in caller.groups:
            raise RefusedError(
                f"approvals in {decision['target']['environment']} need a member of group "
                f"{group!r}; {caller.subject} is in {sorted(caller.groups) or 'no group'}"
            )
        approval = Approval(
            id="apr_" + secrets.token_hex(8),
            decision_id=decision_id,
            approver=caller.subject,
            outcome=outcome,
            reason=reason,
            at=now,
            expires_at=now + timedelta(seconds=duration_seconds(env.approvals.expires_after)),
            score=float(decision["score"]),
            signals=tuple(sorted(c["signal"] for c in decision["contributors"])),
            groups=caller.groups,
        )
        self.store.add_approval(approval)
        return approval

    def state(
        self, record: AuditRecord, now: datetime, break_glass: BreakGlass | None
    ) -> ApprovalState:
        decision = record.decision
        verdict = decision["verdict"]
        if verdict != "proceed" and break_glass is not None:
            return ApprovalState(status="break_glass", break_glass=break_glass)
        if verdict == "proceed":
            return ApprovalState(status="proceed")
        if verdict == "block":
            return ApprovalState(status="block")
        return self._tally(record, now)

    def _tally(self, record: AuditRecord, now: datetime) -> ApprovalState:
        decision = record.decision
        required = int(decision["approvals"]["required"])
        group = decision["approvals"].get("group")
        contributors = {c["signal"] for c in decision["contributors"]}
        score = float(decision["score"])
        asked_by = requesters(record)
        approvers: dict[str, Approval] = {}
        rejected: dict[str, Approval] = {}
        voided: list[Voided] = []
        for approval in self._candidates(record, now):
            why = _void_reason(approval, record.decision_id, contributors, score, asked_by, now)
            if why is not None:
                voided.append(Voided(approval.id, approval.approver, approval.decision_id, why))
                continue
            chosen = approvers if approval.outcome is ApprovalOutcome.APPROVE else rejected
            chosen.setdefault(approval.approver, approval)
        counted = tuple(sorted((*approvers.values(), *rejected.values()), key=lambda a: a.at))
        base = {
            "required": required,
            "group": group,
            "approvers": tuple(sorted(approvers)),
            "rejected_by": tuple(sorted(rejected)),
            "voided": tuple(voided),
            "counted": counted,
        }
        if rejected:
            return ApprovalState(status="rejected", **base)
        if len(approvers) >= required:
            last = sorted(a.at for a in approvers.values())[required - 1]
            waited = (utc(last) - utc(record.at)).total_seconds()
            return ApprovalState(status="approved", waited_seconds=waited, **base)
        return ApprovalState(status="pending_approval", **base)

    def _candidates(self, record: AuditRecord, now: datetime) -> list[Approval]:
        """Approvals given on this decision or an earlier one of the same target, oldest first."""
        env_name = record.decision["target"]["environment"]
        env = self.policy.environment(env_name)
        window = timedelta(seconds=duration_seconds(env.approvals.expires_after))
        key, since = target_key(record.decision), utc(record.at) - window
        if self.recent is not None:
            return self.recent.get(env_name, key, since, record.seq, now)
        return approvals_for_target(self.store, env_name, key, since, record.seq)


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


def _void_reason(
    approval: Approval,
    decision_id: str,
    contributors: set[str],
    score: float,
    asked_by: set[str],
    now: datetime,
) -> str | None:
    who = f"{approval.approver}'s {approval.outcome.value} (on {approval.decision_id})"
    if approval.expires_at is not None and utc(approval.expires_at) <= utc(now):
        return f"{who} expired at {format_time(utc(approval.expires_at))}"
    if identities(approval.approver) & asked_by:
        return f"{who} does not count: {approval.approver} requested {decision_id}"
    if approval.decision_id == decision_id:
        return None
    new = sorted(contributors - set(approval.signals))
    if new and approval.outcome is ApprovalOutcome.APPROVE:
        return f"{who} no longer counts: new contributing signal(s) since: {', '.join(new)}"
    if score > approval.score and approval.outcome is ApprovalOutcome.APPROVE:
        return (
            f"{who} no longer counts: the risk rose from {approval.score:g} (approved) to {score:g}"
        )
    return None
