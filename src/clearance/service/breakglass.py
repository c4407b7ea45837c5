"""Break-glass: an audited proceed-anyway for one target and artifact, with a reason and a ticket.

Only a signer may ask for one (:mod:`clearance.service.signers`): a member of the environment's
approval group who is none of the requesters of the decision it overrides. A grant covers later
decisions about its target until it expires, and only while they deploy the artifact (images and
commit) of the decision it was asked on. When the service is configured to need a second person,
a grant counts only once another signer — a principal other than its requester — confirms it;
the confirmation is taken once (of concurrent confirmers exactly one wins, the others get 409).
Every grant and confirmation fires the outbound notification.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clearance.errors import RefusedError
from clearance.model.artifact import Artifact
from clearance.model.signal import format_time, utc
from clearance.service.approvals import GrantsAndLog, target_key
from clearance.service.notify import Webhook
from clearance.service.signers import Signers
from clearance.store.interface import AuditRecord, BreakGlass, Caller, NotFoundError
from clearance.store.read_cache import Recent


@dataclass(frozen=True, slots=True)
class BreakGlassRules:
    expires_after: timedelta = timedelta(hours=1)
    second_person: bool = False


class BreakGlassDesk:
    def __init__(
        self,
        store: GrantsAndLog,
        rules: BreakGlassRules,
        webhook: Webhook,
        signers: Signers,
        read_cache: float = 0.0,
    ) -> None:
        self.store = store
        self.rules = rules
        self.webhook = webhook
        self.signers = signers
        self.cache: Recent[tuple[BreakGlass, ...]] = Recent(read_cache)

    def active_for(self, record: AuditRecord, now: datetime) -> BreakGlass | None:
        env = record.decision["target"]["environment"]
        key = target_key(record.decision)
        artifact: Artifact | None = None  # parsed only when a grant is for this target
        for grant in self.cache.get(now, lambda: self.store.list_break_glass(now)):
            if (
                grant.target_key != key
                or grant.environment != env
                or not grant.active(now, needs_confirmation=self.rules.second_person)
            ):
                continue
            if grant.decision_id == record.decision_id:
                return grant
            artifact = artifact or Artifact.of(record.decision["target"])
            if grant.artifact is not None and grant.artifact.covers(artifact):
                return grant
        return None

    def request(
        self, decision_id: str, caller: Caller, reason: str, ticket: str, now: datetime
    ) -> BreakGlass:
        """RefusedError unless ``caller`` is a signer of the decision (see the module)."""
        record = self.store.get_decision(decision_id)
        who = self.signers.signer(record, caller, "break-glass")
        target = record.decision["target"]
        grant = BreakGlass(
            id="bg_" + secrets.token_hex(8),
            environment=target["environment"],
            target_key=target_key(record.decision),
            reason=reason,
            ticket=ticket,
            requested_by=who,
            at=now,
            expires_at=now + self.rules.expires_after,
            decision_id=decision_id,
            artifact=Artifact.of(target),
        )
        self.store.add_break_glass(grant)
        self.cache.clear()
        self._notify("break_glass.requested", grant, record)
        return grant

    def confirm(self, grant_id: str, caller: Caller, now: datetime) -> BreakGlass:
        """The second person's confirmation. RefusedError: the caller asked for the grant, is a
        requester of its decision, or is outside the approval group. ConflictError (store): it
        was confirmed already (by anyone), or has expired or been revoked."""
        grant = self._grant(grant_id, now)
        if grant.decision_id is None:
            raise RefusedError(f"break-glass {grant_id} names no decision; it cannot be confirmed")
        record = self.store.get_decision(grant.decision_id)
        who = self.signers.signer(record, caller, "confirm a break-glass on")
        if who == self.signers.principal(grant.requested_by):
            raise RefusedError(
                f"{who} requested break-glass {grant_id}; a second person must confirm it"
            )
        confirmed = self.store.confirm_break_glass(grant_id, who, now)
        self.cache.clear()
        self._notify("break_glass.confirmed", confirmed, None)
        return confirmed

    def _grant(self, grant_id: str, now: datetime) -> BreakGlass:
        every = self.store.list_break_glass(now, include_expired=True)
        grant = next((g for g in every if g.id == grant_id), None)
        if grant is None:
            raise NotFoundError(f"no break-glass with id {grant_id!r}")
        return grant

    def _notify(self, event: str, grant: BreakGlass, record: AuditRecord | None) -> None:
        payload: dict[str, Any] = {"event": event, "break_glass": describe(grant)}
        if record is not None:
            payload["decision"] = {
                "id": record.decision_id,
                "verdict": record.decision["verdict"],
                "score": record.decision["score"],
                "target": record.decision["target"],
            }

        def delivered(at: datetime) -> None:
            self.store.mark_break_glass_notified(grant.id, at)

        self.webhook.send(payload, delivered)


def describe(grant: BreakGlass) -> dict[str, Any]:
    def when(moment: datetime | None) -> str | None:
        return None if moment is None else format_time(utc(moment))

    data: dict[str, Any] = {
        "id": grant.id,
        "environment": grant.environment,
        "target": grant.target_key,
        "decision_id": grant.decision_id,
        "reason": grant.reason,
        "ticket": grant.ticket,
        "requested_by": grant.requested_by,
        "at": when(grant.at),
        "expires_at": when(grant.expires_at),
        "confirmed_by": grant.confirmed_by,
        "confirmed_at": when(grant.confirmed_at),
        "notified_at": when(grant.notified_at),
        "revoked_at": when(grant.revoked_at),
    }
    if grant.artifact is not None:
        data["artifact"] = {"images": list(grant.artifact.images), "commit": grant.artifact.commit}
    return data
