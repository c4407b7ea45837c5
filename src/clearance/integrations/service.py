"""Adapters from the decision service (``clearance.service``) to the integrations' contract.

:class:`ServiceDecider` decides through :class:`~clearance.service.decisions.DecisionService`
(store-backed snapshot, engine, audit log, approvals), honouring the service's in-flight limit
and counting into its metrics, so a decision asked by a webhook is the same as one asked on
``POST /v1/decisions``. A dry run (``record=False``) is decided from the same snapshot but not
appended to the log; its approval status is computed as for a recorded one.
"""

from __future__ import annotations

import threading
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
    """``computing``: decisions computed at once (CPU-bound Python under one GIL: a few threads
    keep the tail short); more may wait for the log's group commit meanwhile, which is what
    lets one commit carry many records."""

    def __init__(self, ctx: ServerContext, computing: int = 2) -> None:
        self.ctx = ctx
        self.computing = threading.BoundedSemaphore(computing)

    def decide(
        self,
        target: Target,
        caller: Caller,
        *,
        record: bool = True,
        manifest: Mapping[str, Any] | None = None,
    ) -> Answer:
        # ``manifest``: the object being admitted; the inventory reads its images (and a new
        # workload's scheduling constraints) beside what it already knows of the target.
        ctx = self.ctx
        if not ctx.slots.acquire(timeout=ctx.settings.queue_wait):
            raise OverloadedError(f"{ctx.settings.max_in_flight} decisions are in flight")
        try:
            if record:
                answer = self._recorded(target, caller, manifest)
            else:
                answer = self._dry(target, caller, manifest)
        finally:
            ctx.slots.release()
        d = answer.decision
        ctx.metrics.decided(d.verdict.value, d.target.environment, list(d.degraded))
        return answer

    def _recorded(
        self, target: Target, caller: Caller, manifest: Mapping[str, Any] | None
    ) -> Answer:
        outcome = self.ctx.decisions.decide(target, caller, manifest, computing=self.computing)
        if outcome.decision is None:  # decide() returns the fresh decision; never a read-back
            raise ClearanceError(f"decision {outcome.record.decision_id} came back without data")
        return Answer(outcome.decision, outcome.state.status)

    def _dry(self, target: Target, caller: Caller, manifest: Mapping[str, Any] | None) -> Answer:
        service = self.ctx.decisions
        with self.computing:
            now = service.clock()
            service.policy.environment(target.environment)
            decision = decide(target, service.snapshot(target, now, manifest), service.policy, now)
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
