"""Who requested a decision, and who may therefore sign it off (approve, reject, break-glass).

The requester of a recorded decision is its caller's principal and, when the platform stated it
in a signed claim, the person the CI run acts for (``caller.on_behalf_of``: GitHub Actions'
``actor``, GitLab's ``user_login``, a signed GitHub webhook's sender). The change's ``actor`` in
a request body is recorded as claimed and never grants anything; it is only used to refuse: the
person it names (normalised, after the configured joins) may not sign the change off either. A
forged actor can at worst keep the person it names from signing off, never let anyone sign off
their own change.

A signer is a principal who is none of the requesters and, when the environment names an
approval group, a member of it.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from clearance.errors import InvalidPrincipalError, RefusedError
from clearance.model.principal import PrincipalId, PrincipalMap
from clearance.policy.compiled import Policy
from clearance.store.interface import AuditRecord, Caller


def requested_by(record: AuditRecord) -> str | None:
    """The requester as recorded: the person a CI run acted for, else the caller."""
    caller = record.caller
    value = caller.get("on_behalf_of") or caller.get("subject")
    return None if value is None else str(value)


def claimed_actor(record: AuditRecord) -> str | None:
    actor = (record.decision["target"].get("change") or {}).get("actor")
    return None if actor is None else str(actor)


@dataclass(frozen=True, slots=True)
class Signers:
    policy: Policy
    principals: PrincipalMap

    def requesters(self, record: AuditRecord) -> frozenset[PrincipalId]:
        """Every principal that asked for ``record``'s decision, or that its change names."""
        caller = record.caller
        names = {self.principals.canonical(str(caller.get("subject")))}
        if caller.get("on_behalf_of"):
            names.add(self.principals.canonical(str(caller["on_behalf_of"])))
        actor = claimed_actor(record)
        if actor:
            with suppress(InvalidPrincipalError):  # a claim that names no one refuses no one
                names.add(self.principals.person(actor))
        return frozenset(names)

    def principal(self, name: str) -> PrincipalId:
        return self.principals.canonical(name)

    def signer(self, record: AuditRecord, caller: Caller, act: str) -> PrincipalId:
        """``caller``'s principal if they may ``act`` on ``record``'s decision (RefusedError
        saying why not): none of its requesters, and in the environment's approval group."""
        who = self.principal(caller.subject)
        decision_id = record.decision_id
        if who in self.requesters(record):
            raise RefusedError(
                f"{who} requested decision {decision_id} (as its caller, the person its run "
                f"acted for, or its change's actor) and cannot {act} it: another person must"
            )
        environment = record.decision["target"]["environment"]
        group = self.policy.environment(environment).approvals.group
        if group is not None and group not in caller.groups:
            raise RefusedError(
                f"to {act} in {environment} needs a member of group {group!r}; {who} is in "
                f"{sorted(caller.groups) or 'no group'}"
            )
        return who
