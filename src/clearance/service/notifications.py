"""Events to people, per environment: Slack, Microsoft Teams and a generic webhook.

``decided`` is called when a decision is recorded (an ``approve`` verdict still waiting is
``approval_needed``); ``settled`` when approvals or a break-glass change its status
(``approved``, ``rejected``, ``break_glass``); ``expired`` when a request waited past the
environment's ``approvals.expires_after`` (:mod:`clearance.service.lapses`). ``notice`` sends
events about other things: an exception about to expire (``exception_expiring``), a deployed
target the watcher would now block (``watch_alert``). Each message goes out on its own
background thread, so a slow or dead receiver never delays a decision; each is retried with
backoff (doubling from ``backoff``), and every attempt is kept in the store's callbacks with the
decision (as a GitHub gate's answers are), so ``GET /v1/decisions/{id}`` and the console show
what was sent, when, and whether it arrived. URLs are recorded without query or credentials.

Delivery is durable: the record keeps the message body (never the URL, a secret: the
environment and channel name it), so a delivery still ``retrying`` when the process stopped is
resumed by the next start (``resume``), with the attempts it has left.
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
from clearance.service.channels import (
    NOTIFY_EVENTS,
    Event,
    Notice,
    notice_payload,
    slack_message,
    slack_notice,
    teams_card,
    teams_notice,
    webhook_payload,
)
from clearance.service.decisions import Outcome
from clearance.service.notify import redact_url
from clearance.service.signers import requested_by

logger = logging.getLogger(__name__)

ALL_EVENTS = frozenset(NOTIFY_EVENTS)
CHANNELS = ("slack", "teams", "webhook")
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
_NOTICE_FORMATS: dict[str, Callable[[Notice], dict[str, Any]]] = {
    "slack": slack_notice,
    "teams": teams_notice,
    "webhook": notice_payload,
}


class CallbackLog(Protocol):
    def save_callback(
        self, callback_id: str, decision_id: str, integration: str, record: dict[str, Any],
        now: datetime,
    ) -> None: ...  # fmt: skip

    def list_callbacks(
        self, decision_id: str | None = None, outcome: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]: ...


def shown(record: Mapping[str, Any]) -> dict[str, Any]:
    """A delivery record as the API and the console show it: without the body it resends."""
    return {k: v for k, v in record.items() if k not in ("body", "subject")}


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

    def expired(self, decision_id: str) -> None:
        """``decision_id`` waited past its environment's ``approvals.expires_after``."""
        self.announce("expired", self.lookup(decision_id))

    def announce(self, name: str, outcome: Outcome) -> None:
        decision = outcome.record.decision
        environment = str(decision["target"]["environment"])
        channels = self.channels.get(environment)
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
            url=self.decision_url(decision_id),
        )
        for channel, url in channels.receivers().items():
            self._start(channel, url, name, decision_id, environment, _FORMATS[channel](event))

    def notice(self, notice: Notice, subject: str) -> None:
        """Send ``notice`` about ``subject`` (the id its deliveries are kept under: a decision,
        an exception) to its environment's receivers, if they take its event."""
        channels = self.channels.get(notice.environment)
        if channels is None or notice.name not in channels.events:
            return
        for channel, url in channels.receivers().items():
            body = _NOTICE_FORMATS[channel](notice)
            self._start(channel, url, notice.name, subject, notice.environment, body)

    def decision_url(self, decision_id: str) -> str | None:
        return f"{self.console_url}/decisions/{decision_id}" if self.console_url else None

    def resume(self) -> int:
        """Resume the deliveries a stopped process left ``retrying``, with the attempts they
        have left (at least one); how many. Called once at start."""
        resumed = 0
        for record in self.log.list_callbacks(outcome="retrying"):
            channel, body = record.get("integration"), record.get("body")
            environment, subject = record.get("environment"), record.get("subject")
            if channel not in CHANNELS or body is None or not environment or not subject:
                continue  # not a notification, or one recorded before bodies were kept
            channels = self.channels.get(str(environment))
            url = channels.receivers().get(str(channel)) if channels is not None else None
            if url is None:  # the receiver was removed from the settings since
                continue
            self._start(
                str(channel), url, str(record["event"]), str(subject), str(environment),
                dict(body), list(record.get("attempts", [])),
            )  # fmt: skip
            resumed += 1
        if resumed:
            logger.info("resumed %d notification deliveries left retrying", resumed)
        return resumed

    def _start(
        self,
        channel: str,
        url: str,
        name: str,
        subject: str,
        environment: str,
        body: dict[str, Any],
        attempts: list[dict[str, Any]] | None = None,
    ) -> None:
        thread = threading.Thread(
            target=self._deliver,
            args=(channel, url, name, subject, environment, body, attempts or []),
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
        self,
        channel: str,
        url: str,
        name: str,
        decision_id: str,
        environment: str,
        body: dict[str, Any],
        attempts: list[dict[str, Any]],
    ) -> None:
        callback_id = f"notify:{channel}:{name}:{decision_id}"
        record: dict[str, Any] = {
            "integration": channel,
            "event": name,
            "url": redact_url(url),
            "outcome": "pending",
            "attempts": attempts,
            # What a restart needs to resume it (never the URL: the settings hold it).
            "environment": environment,
            "subject": decision_id,
            "body": body,
        }
        delay = self.backoff
        # A resumed delivery has the attempts it had left, and at least one.
        left = max(self.retries + 1 - len(attempts), 1)
        for attempt in range(left):
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
            last = ok or attempt == left - 1
            record["outcome"] = "delivered" if ok else ("failed" if last else "retrying")
            self._save(callback_id, decision_id, channel, record)
            if ok:
                break
            logger.warning(
                "%s notification %s of %s to %s failed (attempt %d of %d): %s",
                channel, name, decision_id, redact_url(url), len(record["attempts"]),
                len(record["attempts"]) + left - attempt - 1,
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
