"""Approval events to people, per environment: Slack, Microsoft Teams and a generic webhook.

``decided`` is called when a decision is recorded (an ``approve`` verdict still waiting is
``approval_needed``); ``settled`` when approvals or a break-glass change its status
(``approved``, ``rejected``, ``break_glass``). Each message goes out on its own background
thread, so a slow or dead receiver never delays a decision; each is retried with backoff
(doubling from ``backoff``), and every attempt is kept with the decision in the store's
callbacks (as a GitHub gate's answers are), so ``GET /v1/decisions/{id}`` and the console show
what was sent, when, and whether it arrived. URLs are recorded without query or credentials.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from clearance.model.signal import format_time, utc
from clearance.model.status import ApprovalStatus
from clearance.service.channels import Event, slack_message, teams_card, webhook_payload
from clearance.service.decisions import Outcome
from clearance.service.notify import redact_url
from clearance.service.signers import requested_by

logger = logging.getLogger(__name__)

ALL_EVENTS = frozenset({"approval_needed", "approved", "rejected", "break_glass"})
_SETTLED = {
    ApprovalStatus.APPROVED: "approved",
    ApprovalStatus.REJECTED: "rejected",
    ApprovalStatus.BREAK_GLASS: "break_glass",
}
_FORMATS: dict[str, Callable[[Event], dict[str, Any]]] = {
    "slack": slack_message,
    "teams": teams_card,
    "webhook": webhook_payload,
}


class CallbackLog(Protocol):
    def save_callback(
        self, callback_id: str, decision_id: str, integration: str, record: dict[str, Any],
        now: datetime,
    ) -> None: ...  # fmt: skip


@dataclass(frozen=True, slots=True)
class Channels:
    """One environment's receivers (URLs are secrets: kept here, never logged or recorded)."""

    slack: str | None = None
    teams: str | None = None
    webhook: str | None = None
    events: frozenset[str] = ALL_EVENTS

    def receivers(self) -> dict[str, str]:
        found = {"slack": self.slack, "teams": self.teams, "webhook": self.webhook}
        return {name: url for name, url in found.items() if url}


class Notifier:
    def __init__(
        self,
        log: CallbackLog,
        lookup: Callable[[str], Outcome],
        channels: Mapping[str, Channels],
        console_url: str | None,
        clock: Callable[[], datetime],
        *,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 5.0,
        on_result: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.log = log
        self.lookup = lookup
        self.channels = dict(channels)
        self.console_url = console_url.rstrip("/") if console_url else None
        self.clock = clock
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.on_result = on_result
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def decided(self, outcome: Outcome) -> None:
        if outcome.state.status is ApprovalStatus.PENDING_APPROVAL:
            self.announce("approval_needed", outcome)

    def settled(self, decision_id: str, status: ApprovalStatus) -> None:
        name = _SETTLED.get(status)
        if name is not None:
            self.announce(name, self.lookup(decision_id))

    def announce(self, name: str, outcome: Outcome) -> None:
        decision = outcome.record.decision
        channels = self.channels.get(str(decision["target"]["environment"]))
        if channels is None or name not in channels.events:
            return
        decision_id = outcome.record.decision_id
        state = outcome.state
        event = Event(
            name=name,
            decision=decision,
            requester=requested_by(outcome.record),
            required=state.required,
            group=state.group,
            approvers=state.approvers,
            url=f"{self.console_url}/decisions/{decision_id}" if self.console_url else None,
        )
        for channel, url in channels.receivers().items():
            body = _FORMATS[channel](event)
            thread = threading.Thread(
                target=self._deliver,
                args=(channel, url, name, decision_id, body),
                name=f"notify-{channel}",
                daemon=True,
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def join(self, timeout: float = 10.0) -> None:
        """Wait for deliveries in flight (shutdown and tests)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _deliver(
        self, channel: str, url: str, name: str, decision_id: str, body: dict[str, Any]
    ) -> None:
        callback_id = f"notify:{channel}:{name}:{decision_id}"
        record: dict[str, Any] = {
            "integration": channel,
            "event": name,
            "url": redact_url(url),
            "outcome": "pending",
            "attempts": [],
        }
        delay = self.backoff
        for attempt in range(self.retries + 1):
            at = self.clock()
            try:
                response = httpx.post(url, json=body, timeout=self.timeout)
                result: dict[str, Any] = {
                    "at": format_time(utc(at)),
                    "status": response.status_code,
                }
                ok = response.is_success
            except httpx.HTTPError as exc:
                result = {"at": format_time(utc(at)), "error": type(exc).__name__}
                ok = False
            record["attempts"].append(result)
            last = ok or attempt == self.retries
            record["outcome"] = "delivered" if ok else ("failed" if last else "retrying")
            self._save(callback_id, decision_id, channel, record)
            if ok:
                break
            logger.warning(
                "%s notification %s of %s to %s failed (attempt %d of %d): %s",
                channel, name, decision_id, redact_url(url), attempt + 1, self.retries + 1,
                result.get("status") or result.get("error"),
            )  # fmt: skip
            if not last:
                time.sleep(delay)
                delay *= 2
        if self.on_result is not None:
            self.on_result(channel, record["outcome"] == "delivered")

    def _save(
        self, callback_id: str, decision_id: str, channel: str, record: dict[str, Any]
    ) -> None:
        try:
            self.log.save_callback(callback_id, decision_id, channel, dict(record), self.clock())
        except Exception:  # recording must not kill the delivery
            logger.exception("could not record the %s notification of %s", channel, decision_id)
