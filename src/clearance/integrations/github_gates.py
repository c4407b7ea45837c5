"""The protection-rule flow: decide in the background, answer GitHub, finish after approvals.

``handle`` runs after the webhook was acknowledged: it decides the mapped target (recorded with
the App installation as the caller, acting for the GitHub sender — the signed payload states who
asked for the deployment, so they cannot approve it — and the sender as the actor), then answers
the gate:
``approved`` for proceed, ``rejected`` for block, and for ``approve`` a status report that keeps
the gate pending. The approvals flow then calls :meth:`GitHubGates.finish` with the decision's
new approval status (``approved``/``break_glass`` → approved, ``rejected`` → rejected); anything
else leaves the gate pending. Every callback attempt is in ``app.log`` (returned by the API).
A delivery id is decided once: ``deliveries`` refuses a replay (the route answers 409).
"""

from __future__ import annotations

import logging

from clearance.errors import ClearanceError, InvalidPrincipalError
from clearance.integrations.github import Request, finish_body, refusal_body, review_body
from clearance.integrations.github_app import (
    Delivery,
    DeliveryBook,
    GateBook,
    GitHubApp,
    PendingGates,
    SeenDeliveries,
)
from clearance.integrations.interface import Decider
from clearance.integrations.metrics import IntegrationMetrics
from clearance.integrations.settings import IntegrationSettings
from clearance.model.decision import Verdict
from clearance.model.principal import PrincipalMap
from clearance.model.status import ApprovalStatus
from clearance.store.interface import Caller

logger = logging.getLogger(__name__)
INTEGRATION = "github"


class GitHubGates:
    def __init__(
        self,
        decider: Decider,
        app: GitHubApp,
        settings: IntegrationSettings,
        metrics: IntegrationMetrics,
        pending: GateBook | None = None,
        deliveries: DeliveryBook | None = None,
        principals: PrincipalMap | None = None,
    ) -> None:
        self.decider = decider
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.pending: GateBook = pending or PendingGates()
        self.deliveries: DeliveryBook = deliveries or SeenDeliveries()
        self.principals = principals or PrincipalMap()

    def handle(self, request: Request, delivery_id: str) -> Delivery:
        gate = request.gate
        if request.target is None:
            reason = request.unmapped_reason or "no target"
            return self.app.post(gate, f"unmapped:{delivery_id}", refusal_body(gate, reason))
        caller = Caller(
            subject=f"github-app:installation/{gate.installation_id}",
            method="webhook",
            issuer="https://github.com",
            on_behalf_of=self._sender(request.sender),
        )
        try:
            ans = self.decider.decide(request.target, caller)
        except ClearanceError as exc:
            # Cannot decide: say so and refuse (fail closed); the pipeline can be re-run.
            logger.warning("GitHub gate %s: %s", gate.repository, exc)
            return self.app.post(gate, f"error:{delivery_id}", refusal_body(gate, str(exc)))
        self.metrics.observe(INTEGRATION, ans.decision)
        decision_id = ans.decision.id
        if ans.verdict is Verdict.APPROVE:
            self.pending.hold(decision_id, gate)
        url = self.settings.decision_url(decision_id)
        return self.app.post(gate, decision_id, review_body(gate, ans, url))

    def _sender(self, login: str | None) -> str | None:
        if login is None or self.settings.github is None:
            return None
        try:
            return self.principals.person(login, self.settings.github.namespace)
        except InvalidPrincipalError:
            return None

    def finish(self, decision_id: str, status: ApprovalStatus) -> Delivery | None:
        """Answer the gate held for ``decision_id`` once its approvals settle.

        ``status`` is the service's approval status. Returns the delivery, or ``None`` when no
        gate is held for the decision or the status does not settle it (still pending).
        """
        if status is ApprovalStatus.PENDING_APPROVAL:
            return None
        approved = status.clears
        gate = self.pending.release(decision_id)
        if gate is None:
            return None
        url = self.settings.decision_url(decision_id)
        note = f"**Clearance: {status}** after review of decision `{decision_id}`"
        if url:
            note += f" ([details]({url}))"
        return self.app.post(gate, decision_id, finish_body(gate, approved, note))
