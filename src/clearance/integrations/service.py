"""Adapters from the decision service (``clearance.service``) to the integrations' contract.

:class:`ServiceDecider` decides through :class:`~clearance.service.decisions.DecisionService`
(store-backed snapshot, engine, audit log, approvals), honouring the service's in-flight limit
and counting into its metrics, so a decision asked by a webhook is the same as one asked on
``POST /v1/decisions``. A dry run (``record=False``) is decided from the same snapshot but not
appended to the log; its approval status is computed as for a recorded one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from clearance.engine import decide
from clearance.errors import ClearanceError
from clearance.integrations.interface import Answer
from clearance.model.target import Target
from clearance.store.interface import AuditRecord, Caller, Scope

if TYPE_CHECKING:
    from clearance.server.app import ServerContext


class OverloadedError(ClearanceError):
    """Too many decisions in flight (the service's ``max_in_flight``)."""


class ServiceDecider:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    def decide(
        self,
        target: Target,
        caller: Caller,
        *,
        record: bool = True,
        manifest: Mapping[str, Any] | None = None,
    ) -> Answer:
        # ``manifest`` is not used yet: DecisionService.snapshot resolves without it, so a new
        # workload's candidate nodes come from the inventory's view of the cluster.
        ctx = self.ctx
        if not ctx.slots.acquire(timeout=ctx.settings.queue_wait):
            raise OverloadedError(f"{ctx.settings.max_in_flight} decisions are in flight")
        try:
            answer = self._recorded(target, caller) if record else self._dry(target, caller)
        finally:
            ctx.slots.release()
        d = answer.decision
        ctx.metrics.decided(d.verdict.value, d.target.environment, list(d.degraded))
        return answer

    def _recorded(self, target: Target, caller: Caller) -> Answer:
        outcome = self.ctx.decisions.decide(target, caller)
        if outcome.decision is None:  # decide() returns the fresh decision; never a read-back
            raise ClearanceError(f"decision {outcome.record.decision_id} came back without data")
        return Answer(outcome.decision, outcome.state.status)

    def _dry(self, target: Target, caller: Caller) -> Answer:
        service = self.ctx.decisions
        now = service.clock()
        service.policy.environment(target.environment)
        decision = decide(target, service.snapshot(target, now), service.policy, now)
        record = AuditRecord(
            schema_version=0,
            seq=0,
            decision_id=decision.id,
            at=decision.at,
            decision=decision.to_dict(),
            snapshot={},
            policy_digest=decision.policy_digest,
            caller=caller.to_dict(),
            prev_hash="",
            hash="",
        )
        state = service.approvals.state(record, now, service.break_glass.active_for(record, now))
        return Answer(decision, state.status, recorded=False)


def service_authenticator(ctx: ServerContext) -> Callable[[str | None], Caller]:
    """The service's token/OIDC check, requiring the ``decide`` scope."""

    def authenticate(authorization: str | None, /) -> Caller:
        return ctx.auth.authenticate(authorization, ctx.clock()).require(Scope.DECIDE)

    return authenticate
