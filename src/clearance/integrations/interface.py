"""The contract every integration route is built on: decide-and-record, and who is asking.

The routes never call the engine or the store themselves. They are given a :class:`Decider`
(the decision service: assemble a snapshot, ``decide``, apply approvals, append to the audit log
with the caller's identity) and an :class:`Authenticator` (the server's token / OIDC check), so
they can be mounted on the service app with one line and tested against the real engine.

Their errors (``IntegrationError``: ``PayloadError``, ``SignatureError``, ``CallerError``,
``CallbackError``) are in the one tree, :mod:`clearance.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from clearance.model.decision import Decision, Verdict
from clearance.model.status import ApprovalStatus
from clearance.model.target import Target
from clearance.store.interface import Caller


@dataclass(frozen=True, slots=True)
class Answer:
    """A decision and where it stands now: ``status`` is the service's approval status.

    ``verdict`` is what the pipeline acts on: an ``approve`` decision whose approvals were given
    (or a break-glass) reads as proceed, one that was rejected as block.
    """

    decision: Decision
    status: ApprovalStatus
    recorded: bool = True

    @property
    def would_have(self) -> str:
        """In shadow mode, what enforcing would have done, for the integration's message."""
        if self.status is not ApprovalStatus.SHADOW:
            return ""
        return f" [shadow mode: would have answered {self.decision.verdict.value}; let through]"

    @property
    def verdict(self) -> Verdict:
        if self.status.clears:
            return Verdict.PROCEED
        if self.status is ApprovalStatus.PENDING_APPROVAL:
            return Verdict.APPROVE
        return Verdict.BLOCK

    @classmethod
    def unapproved(cls, decision: Decision, *, recorded: bool = True) -> Answer:
        """The answer when no approval has been given yet (the verdict as decided)."""
        if decision.shadow and decision.verdict is not Verdict.PROCEED:
            return cls(decision, ApprovalStatus.SHADOW, recorded)
        status = {
            Verdict.PROCEED: ApprovalStatus.PROCEED,
            Verdict.APPROVE: ApprovalStatus.PENDING_APPROVAL,
        }.get(decision.verdict, ApprovalStatus.BLOCK)
        return cls(decision, status, recorded)


class Decider(Protocol):
    """Decide whether ``target`` may be deployed now, on behalf of ``caller``.

    ``record=False`` asks for a decision that is *not* appended to the audit log as a deploy
    (a Kubernetes dry-run request); everything else about it is the same. ``manifest`` is the
    Kubernetes object about to be applied when the caller has it (admission), so the inventory
    can compute the nodes a new pod template may be scheduled on. The :class:`Answer` carries the
    approval status, so a gate opens once the approvals are given. ``deadline``, when the
    request has one, is called (with what would happen next) before the decision is computed
    and before it is recorded, and raises once its answer could no longer arrive in time.
    Raises :class:`clearance.errors.ClearanceError` subclasses only.
    """

    def decide(
        self,
        target: Target,
        caller: Caller,
        *,
        record: bool = True,
        manifest: Mapping[str, Any] | None = None,
        deadline: Callable[[str], object] | None = None,
    ) -> Answer: ...


class Authenticator(Protocol):
    """Turn an ``Authorization`` header value (``None``: none sent) into a :class:`Caller`.

    Raises a :class:`clearance.errors.ClearanceError` (the server's ``AuthError``/``ScopeError``,
    or :class:`CallerError`) when it is refused; the message never contains the credential.
    The server adapts its own authenticator, requiring the ``decide`` scope.
    """

    def __call__(self, authorization: str | None, /) -> Caller: ...
