"""N-of-M approvals, bound to the artifact the approver was shown and the evidence they saw.

An approval records the decision's images and commit (its artifact), its score and its
contributing signal uids. It counts toward a decision about the same target (environment +
``cluster/namespace/kind/name``) only while:

* it has not expired (the policy's ``approvals.expires_after`` for the environment);
* the decision deploys the approved artifact: the same images (by digest where known, else the
  exact reference) and the same commit (:mod:`clearance.model.artifact`);
* every signal contributing to the decision was among those the approver saw (no new evidence);
* the decision's score is not above the approved score (the risk did not rise);
* the approver is none of the decision's requesters (:mod:`clearance.service.signers`).

Each approval that no longer counts is reported with the reason, so a fresh decision says why
the earlier sign-off was voided. Approvals are tallied per principal, so one person counts once
under every name they go by; one live rejection rejects.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from clearance.errors import StateError
from clearance.model.artifact import Artifact
from clearance.model.decision import SHADOW
from clearance.model.principal import PrincipalMap
from clearance.model.signal import format_time, utc
from clearance.model.status import ApprovalStatus
from clearance.policy.compiled import Policy
from clearance.policy.schema import duration_seconds
from clearance.service.approval_query import RecentApprovals, approvals_for_target
from clearance.service.signers import Signers
from clearance.store.interface import (
    Approval,
    ApprovalOutcome,
    AuditRecord,
    BreakGlass,
    Caller,
    DecisionLogStore,
    GrantStore,
)


class GrantsAndLog(GrantStore, DecisionLogStore, Protocol):
    """What approvals and break-glass read and write: the grants, and the decisions they clear."""


@dataclass(frozen=True, slots=True)
class Voided:
    approval_id: str
    approver: str
    decision_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ApprovalState:
    """Where a recorded decision stands: ``status`` (with its exit code) and the sign-offs."""

    status: ApprovalStatus
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
        return self.status.exit_code

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


class ApprovalBook:
    def __init__(
        self,
        store: GrantsAndLog,
        policy: Policy,
        principals: PrincipalMap | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.signers = Signers(policy, principals or PrincipalMap())
        # Read through the store each time until the decision service sets up the cache, with
        # the database's approvals counter (cache_reads).
        self.recent: RecentApprovals | None = None

    def cache_reads(self, ttl: float, changes: Callable[[datetime], int] | None = None) -> None:
        """Reuse a target's approvals for ``ttl`` seconds (the service's ``read_cache``), or
        while the database's count of approval writes (``changes``) stands still; this
        process's own approvals apply at once; ``0`` turns it off."""
        self.recent = RecentApprovals(self.store, ttl, changes) if ttl > 0 else None

    def answer(
        self,
        decision_id: str,
        caller: Caller,
        outcome: ApprovalOutcome,
        reason: str,
        now: datetime,
    ) -> Approval:
        """Record ``caller``'s approval or rejection of an ``approve`` decision, under their
        principal and bound to the decision's artifact and evidence.

        RefusedError: the caller is one of its requesters, or not in the environment's approval
        group. StateError: the verdict is not ``approve``. ConflictError (store): this principal
        answered it already.
        """
        record = self.store.get_decision(decision_id)
        decision = record.decision
        if decision["verdict"] != "approve":
            raise StateError(
                f"decision {decision_id} has verdict {decision['verdict']!r}; only 'approve' "
                "verdicts take approvals (a block needs an exception or break-glass)"
            )
        who = self.signers.signer(record, caller, f"{outcome.value} or otherwise answer")
        env = self.policy.environment(decision["target"]["environment"])
        approval = Approval(
            id="apr_" + secrets.token_hex(8),
            decision_id=decision_id,
            approver=who,
            outcome=outcome,
            reason=reason,
            at=now,
            expires_at=now + timedelta(seconds=duration_seconds(env.approvals.expires_after)),
            score=float(decision["score"]),
            signals=tuple(sorted(c["signal"] for c in decision["contributors"])),
            groups=caller.groups,
            artifact=Artifact.of(decision["target"]),
        )
        self.store.add_approval(approval)
        return approval

    def state(
        self, record: AuditRecord, now: datetime, break_glass: BreakGlass | None
    ) -> ApprovalState:
        verdict = record.decision["verdict"]
        if verdict != "proceed" and record.decision.get("mode") == SHADOW:
            # Observe only: the deploy goes ahead, but approvals given are still tallied, so
            # the shadow report can say how often people would have signed off.
            inner = (
                self._tally(record, now)
                if verdict == "approve"
                else ApprovalState(status=ApprovalStatus.BLOCK)
            )
            return replace(inner, status=ApprovalStatus.SHADOW)
        if verdict != "proceed" and break_glass is not None:
            return ApprovalState(status=ApprovalStatus.BREAK_GLASS, break_glass=break_glass)
        if verdict == "proceed":
            return ApprovalState(status=ApprovalStatus.PROCEED)
        if verdict == "approve":
            return self._tally(record, now)
        return ApprovalState(status=ApprovalStatus.BLOCK)  # block, or a verdict unknown here

    def _tally(self, record: AuditRecord, now: datetime) -> ApprovalState:
        decision = record.decision
        required = int(decision["approvals"]["required"])
        group = decision["approvals"].get("group")
        evidence = _Evidence(
            decision_id=record.decision_id,
            contributors=frozenset(c["signal"] for c in decision["contributors"]),
            score=float(decision["score"]),
            artifact=Artifact.of(decision["target"]),
            requesters=self.signers.requesters(record),
        )
        approvers: dict[str, Approval] = {}
        rejected: dict[str, Approval] = {}
        voided: list[Voided] = []
        for approval in self._candidates(record, now):
            who = self.signers.principal(approval.approver)
            why = evidence.void_reason(approval, who, now)
            if why is not None:
                voided.append(Voided(approval.id, who, approval.decision_id, why))
                continue
            chosen = approvers if approval.outcome is ApprovalOutcome.APPROVE else rejected
            chosen.setdefault(who, approval)
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
            return ApprovalState(status=ApprovalStatus.REJECTED, **base)
        if len(approvers) >= required:
            last = sorted(a.at for a in approvers.values())[required - 1]
            waited = (utc(last) - utc(record.at)).total_seconds()
            return ApprovalState(status=ApprovalStatus.APPROVED, waited_seconds=waited, **base)
        return ApprovalState(status=ApprovalStatus.PENDING_APPROVAL, **base)

    def _candidates(self, record: AuditRecord, now: datetime) -> list[Approval]:
        """Approvals given on this decision or an earlier one of the same target, oldest first."""
        env_name = record.decision["target"]["environment"]
        env = self.policy.environment(env_name)
        window = timedelta(seconds=duration_seconds(env.approvals.expires_after))
        key, since = target_key(record.decision), utc(record.at) - window
        if self.recent is not None:
            return self.recent.get(env_name, key, since, record.seq, now)
        return approvals_for_target(self.store, env_name, key, since, record.seq)


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What the decision being cleared deploys and shows, against which approvals are held."""

    decision_id: str
    contributors: frozenset[str]
    score: float
    artifact: Artifact
    requesters: frozenset[str]

    def void_reason(self, approval: Approval, who: str, now: datetime) -> str | None:
        what = f"{who}'s {approval.outcome.value} (on {approval.decision_id})"
        if approval.expires_at is not None and utc(approval.expires_at) <= utc(now):
            return f"{what} expired at {format_time(utc(approval.expires_at))}"
        if who in self.requesters:
            return f"{what} does not count: {who} requested {self.decision_id}"
        if approval.decision_id == self.decision_id:
            return None
        if approval.artifact is None:
            return f"{what} was given before approvals named an artifact: it covers only its own"
        if not approval.artifact.covers(self.artifact):
            return (
                f"{what} does not cover this artifact: "
                f"{approval.artifact.difference(self.artifact)}"
            )
        if approval.outcome is not ApprovalOutcome.APPROVE:
            return None
        new = sorted(self.contributors - set(approval.signals))
        if new:
            return f"{what} no longer counts: new contributing signal(s) since: {', '.join(new)}"
        if self.score > approval.score:
            return (
                f"{what} no longer counts: the risk rose from {approval.score:g} (approved) "
                f"to {self.score:g}"
            )
        return None
