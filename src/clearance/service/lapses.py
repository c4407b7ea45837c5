"""What lapses with time, told once: approval requests that expired unanswered, and exceptions
about to expire.

Nothing happens at the moment a request lapses or an exception nears its end, so a periodic
pass (a ``Periodic``, every ``server.notify.sweep_interval``) looks for them:

* ``expired``: a decision of a notified environment, still pending approval
  ``approvals.expires_after`` after it was made (an approval given now would be a fresh one
  anyway: the pipeline asks again). Decisions that lapsed more than ``LOOKBACK`` ago are left
  alone, so a first start does not announce a year of history;
* ``exception_expiring``: an active exception of a notified environment within
  ``notify.exception_warning`` of its expiry (the console marks the same ones "soon").

Each is announced once, across restarts and replicas: the pass claims it first in the store's
delivery claims (``claim_delivery``), as signed webhook deliveries are claimed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from clearance.model.signal import format_time, utc
from clearance.model.status import ApprovalStatus
from clearance.policy.compiled import Policy
from clearance.policy.schema import duration_seconds
from clearance.service.channels import Notice
from clearance.service.decisions import DecisionService
from clearance.service.notifications import Notifier
from clearance.store.interface import DecisionFilter, DecisionPage, ExemptionRecord

LOOKBACK = timedelta(days=1)
CLAIMS = "notify"  # the integration name the claims are kept under
_PAGE = 500


class LapseStore(Protocol):
    def list_decisions(
        self, filters: DecisionFilter | None = None, limit: int = 50, cursor: str | None = None
    ) -> DecisionPage: ...

    def list_exemptions(
        self, now: datetime, *, include_inactive: bool = False
    ) -> tuple[ExemptionRecord, ...]: ...

    def claim_delivery(
        self, integration: str, delivery_id: str, now: datetime
    ) -> datetime | None: ...


class Lapses:
    def __init__(
        self,
        store: LapseStore,
        decisions: DecisionService,
        policy: Policy,
        notifier: Notifier,
        warn_before: timedelta,
        exceptions_url: str | None = None,
    ) -> None:
        self.store = store
        self.decisions = decisions
        self.policy = policy
        self.notifier = notifier
        self.warn_before = warn_before
        self.exceptions_url = exceptions_url

    def tick(self) -> tuple[list[str], list[str]]:
        """One pass: the decision ids announced ``expired`` and the exception ids announced
        ``exception_expiring`` by this call."""
        now = utc(self.decisions.clock())
        return self._expired(now), self._expiring(now)

    def _expired(self, now: datetime) -> list[str]:
        told = []
        for environment in sorted(self.notifier.channels):
            env = self.policy.environment(environment)
            until = now - timedelta(seconds=duration_seconds(env.approvals.expires_after))
            filters = DecisionFilter(
                environment=environment, verdict="approve", since=until - LOOKBACK, until=until
            )
            for record in self.store.list_decisions(filters, limit=_PAGE).records:
                outcome = self.decisions.get(record.decision_id)
                if outcome.state.status is not ApprovalStatus.PENDING_APPROVAL:
                    continue
                if self.store.claim_delivery(CLAIMS, f"expired:{record.decision_id}", now):
                    continue  # told already, here or by another replica
                self.notifier.announce("expired", outcome)
                told.append(record.decision_id)
        return told

    def _expiring(self, now: datetime) -> list[str]:
        told = []
        for found in self.store.list_exemptions(now):
            e = found.exemption
            if not found.active(now) or e.environment not in self.notifier.channels:
                continue
            if utc(e.expires) - now > self.warn_before:
                continue
            if self.store.claim_delivery(CLAIMS, f"exception_expiring:{e.id}", now):
                continue
            what = f"signal {e.signal}" if e.signal else f"rule {e.rule}"
            target = f"{e.cluster}/{e.namespace}/{e.workload}"
            notice = Notice(
                name="exception_expiring",
                environment=e.environment,
                headline=f"Exception expiring: {e.environment} {target} — {what} until "
                f"{format_time(utc(e.expires))}",
                lines=(
                    f"Exception {e.id} (ticket {e.ticket}, approved by {e.approver}): {e.reason}",
                    "After it expires the finding counts again; renew it or fix the finding.",
                ),
                url=self.exceptions_url,
                payload={
                    "event": "exception.expiring",
                    "exception": {
                        "id": e.id, "signal": e.signal, "rule": e.rule,
                        "environment": e.environment, "cluster": e.cluster,
                        "namespace": e.namespace, "workload": e.workload,
                        "expires": format_time(utc(e.expires)), "ticket": e.ticket,
                        "approver": e.approver, "reason": e.reason,
                    },
                    "url": self.exceptions_url,
                },
            )  # fmt: skip
            self.notifier.notice(notice, e.id)
            told.append(e.id)
        return told
