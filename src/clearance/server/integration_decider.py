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

from clearance.errors import ClearanceError
from clearance.integrations.interface import Answer
from clearance.model.target import Target
from clearance.store.interface import Caller, Scope

if TYPE_CHECKING:
    from clearance.server.app import ServerContext


class ServiceDecider:
    """Decides through the service, computing within its process-wide bound
    (``ServerContext.computing``: CPU-bound Python under one GIL, a few threads keep the tail
    short); more may wait for the log's group commit meanwhile, which is what lets one commit
    carry many records."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.computing = ctx.computing

    def decide(
        self,
        target: Target,
        caller: Caller,
        *,
        record: bool = True,
        manifest: Mapping[str, Any] | None = None,
        deadline: Callable[[str], object] | None = None,
    ) -> Answer:
        # ``manifest``: the object being admitted; the inventory reads its images (and a new
        # workload's scheduling constraints) beside what it already knows of the target.
        # ``deadline``: the request's (the route admitted it); raises once its answer could no
        # longer arrive in time, before the decision is computed and before it is recorded.
        outcome = self.ctx.decide(
            target, caller, manifest, computing=self.computing, record=record, deadline=deadline
        )
        d = outcome.decision
        if d is None:  # decide() returns the decision it computed; never a read-back
            raise ClearanceError(f"decision {outcome.record.decision_id} came back without data")
        return Answer(d, outcome.state.status, recorded=record)


def service_authenticator(ctx: ServerContext) -> Callable[[str | None], Caller]:
    """The service's token/OIDC check, requiring the ``decide`` scope."""

    def authenticate(authorization: str | None, /) -> Caller:
        return ctx.auth.authenticate(authorization, ctx.clock()).require(Scope.DECIDE)

    return authenticate
