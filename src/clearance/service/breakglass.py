"""Break-glass: an audited proceed-anyway for one target, with a reason and a ticket.

A grant overrides ``approve`` and ``block`` for decisions about its target until it expires.
When the service is configured to need a second person, a grant counts only once someone other
than its requester confirms it. Every grant fires the outbound notification.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clearance.model.signal import format_time, utc
from clearance.service.approvals import target_key
from clearance.service.errors import RefusedError
from clearance.service.notify import Webhook
from clearance.store.interface import AuditRecord, BreakGlass, Caller, Store
from clearance.store.read_cache import Recent


@dataclass(frozen=True, slots=True)
class BreakGlassRules:
    expires_after: timedelta = timedelta(hours=1)
    second_person: bool = False


class BreakGlassDesk:
    def __init__(
        self, store: Store, rules: BreakGlassRules, webhook: Webhook, read_cache: float = 0.0
    ) -> None:
        self.store = store
        self.rules = rules
        self.webhook = webhook
        self.cache: Recent[tuple[BreakGlass, ...]] = Recent(read_cache)

    def active_for(self, record: AuditRecord, now: datetime) -> BreakGlass | None:
        env = record.decision["target"]["environment"]
        key = target_key(record.decision)
        for grant in self.cache.get(now, lambda: self.store.list_break_glass(now)):
            if (
                grant.target_key == key
                and grant.environment == env
                and grant.active(now, needs_confirmation=self.rules.second_person)
            ):
                return grant
        return None

    def request(
        self, decision_id: str, caller: Caller, reason: str, ticket: str, now: datetime
    ) -> BreakGlass:
        record = self.store.get_decision(decision_id)
        target = record.decision["target"]
        grant = BreakGlass(
            id="bg_" + secrets.token_hex(8),
            environment=target["environment"],
            target_key=target_key(record.decision),
            reason=reason,
            ticket=ticket,
            requested_by=caller.subject,
            at=now,
            expires_at=now + self.rules.expires_after,
            decision_id=decision_id,
        )
        self.store.add_break_glass(grant)
        self.cache.clear()
        self._notify("break_glass.requested", grant, record)
        return grant

    def confirm(self, grant_id: str, caller: Caller, now: datetime) -> BreakGlass:
        grant = next(
            (g for g in self.store.list_break_glass(now, include_expired=True) if g.id == grant_id),
            None,
        )
        if grant is not None and grant.requested_by == caller.subject:
            raise RefusedError(
                f"{caller.subject} requested break-glass {grant_id}; a second person must confirm"
            )
        confirmed = self.store.confirm_break_glass(grant_id, caller.subject, now)
        self.cache.clear()
        self._notify("break_glass.confirmed", confirmed, None)
        return confirmed

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

    return {
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
