"""Watching after the deploy: re-decide what was deployed, and raise an alert when a live target
would now be blocked on evidence it was not deployed with.

Clearance learns what was deployed from a clearing decision followed by the deploy: an explicit
``POST /v1/decisions/{id}/deployed`` (``clearance deployed ID``), or an integration that let the
deploy through (an admission allowed, an Argo measurement Successful, a Flagger hook 200). Each
watch pass decides every deployed target again from the store's current evidence, as a new
deploy of the same artifact would be decided. A target alerts when the new decision blocks and
it rests on evidence the deployed decision did not have (a reason code, with its signal and
verdict), so a deploy made by break-glass over a known block alerts on what is new, not again on
what was waived by hand. An alert is:

* a record in the decision log: the new decision with its snapshot, caller ``clearance:watch``
  (method ``watch``), so it replays like any other;
* a POST to the generic webhook (``server.notify.webhook_url``), with the new evidence;
* a ``watch_alert`` event to the environment's notification receivers (Slack, Teams, its
  webhook: :mod:`clearance.service.notifications`), where configured;
* ``clearance_watch_alerts_total{environment}``.

Replicas may all watch: the alert is claimed by a conditional write, so each new piece of
evidence alerts once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from clearance.errors import ClearanceError
from clearance.model.decision import Decision, Verdict
from clearance.model.snapshot import target_from_dict
from clearance.service.channels import Notice
from clearance.service.decisions import DecisionService
from clearance.service.notify import Webhook
from clearance.store.deployments import Deployment
from clearance.store.interface import WATCH_METHOD, AuditRecord, Caller

logger = logging.getLogger(__name__)

WATCH_CALLER = Caller(subject="clearance:watch", method=WATCH_METHOD)
EVENT = "clearance.watch.block"

Evidence = frozenset[tuple[str, str, str]]  # (reason code, signal uid or "", verdict)


class DeploymentBook(Protocol):
    def list_deployments(self) -> list[Deployment]: ...

    def claim_watch_alert(self, key: str, decision_id: str, digest: str, now: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class WatchAlert:
    deployment: Deployment
    decision: Decision
    record: AuditRecord
    new: tuple[tuple[str, str, str], ...]

    def payload(self, decision_url: str | None) -> dict[str, Any]:
        d = self.decision
        reasons = [r.to_dict() for r in d.reasons if r.waived_by is None and r.verdict.rank]
        fresh = {uid for _, uid, _ in self.new if uid}
        return {
            "event": EVENT,
            "target": d.target.to_dict(),
            "deployed": {
                "decision_id": self.deployment.decision_id,
                "via": self.deployment.via,
                "at": self.deployment.deployed_at.isoformat(),
            },
            "decision": {
                "id": d.id,
                "seq": self.record.seq,
                "verdict": d.verdict.value,
                "score": d.score,
                "mode": d.mode or "enforce",
                "url": decision_url,
            },
            "new_evidence": [
                {"code": code, "signal": uid or None, "verdict": verdict}
                for code, uid, verdict in self.new
            ],
            "reasons": reasons,
            "contributors": [c.to_dict() for c in d.contributors if c.signal in fresh],
        }

    def notice(self, decision_url: str | None) -> Notice:
        """The alert for people (Slack, Teams): what is deployed, and what is new against it."""
        d, deployed = self.decision, self.deployment
        reasons = {r.code: r.message for r in d.reasons if r.waived_by is None and r.verdict.rank}
        lines = [
            f"Deployed by decision {deployed.decision_id} ({deployed.via}); decided again now: "
            f"verdict {d.verdict.value}, score {d.score:g}.",
            *(
                f"New: {reasons.get(code, code)}" + (f" ({uid})" if uid else "")
                for code, uid, _ in self.new
            ),
        ]
        return Notice(
            name="watch_alert",
            environment=d.target.environment,
            headline=f"Would now be blocked: {d.target.environment} {d.target.key}",
            lines=tuple(lines),
            url=decision_url,
            payload=self.payload(decision_url),
        )


def evidence(reasons: Iterable[Mapping[str, Any]]) -> Evidence:
    """What a decision's strict verdict rests on: unwaived reasons asking more than proceed."""
    return frozenset(
        (str(r["code"]), str(r.get("signal") or ""), str(r["verdict"]))
        for r in reasons
        if not r.get("waived_by") and r["verdict"] != Verdict.PROCEED.value
    )


class Watcher:
    def __init__(
        self,
        decisions: DecisionService,
        book: DeploymentBook,
        webhook: Webhook,
        *,
        on_alert: Callable[[str], object] = lambda environment: None,
        decision_url: Callable[[str], str | None] = lambda decision_id: None,
        notify: Callable[[WatchAlert], object] = lambda alert: None,
    ) -> None:
        self.decisions = decisions
        self.notify = notify
        self.book = book
        self.webhook = webhook
        self.on_alert = on_alert
        self.decision_url = decision_url

    def tick(self) -> list[WatchAlert]:
        """One pass over every deployed target; the alerts this replica raised."""
        now = self.decisions.clock()
        raised = []
        for deployment in self.book.list_deployments():
            try:
                alert = self._watch(deployment, now)
            except ClearanceError as exc:  # one target that cannot be decided stops no other
                logger.warning("watch %s: cannot decide: %s", deployment.key, exc)
                continue
            if alert is not None:
                raised.append(alert)
        return raised

    def _watch(self, deployment: Deployment, now: datetime) -> WatchAlert | None:
        target = target_from_dict(dict(deployment.target))
        decision, snapshot = self.decisions.redecide(target, now)
        if decision.verdict is not Verdict.BLOCK:
            return None
        deployed = self.decisions.store.get_decision(deployment.decision_id).decision
        new = evidence(r.to_dict() for r in decision.reasons) - evidence(deployed["reasons"])
        if not new:
            return None
        digest = hashlib.sha256(repr(sorted(new)).encode()).hexdigest()
        if not self.book.claim_watch_alert(deployment.key, deployment.decision_id, digest, now):
            return None  # raised already, here or by another replica
        record = self.decisions.record(decision, snapshot, WATCH_CALLER, now)
        alert = WatchAlert(deployment, decision, record, tuple(sorted(new)))
        self.webhook.send(alert.payload(self.decision_url(decision.id)), lambda at: None)
        self.notify(alert)  # and to the environment's Slack, Teams and webhook receivers
        self.on_alert(target.environment)
        logger.warning(
            "watch: deployed %s would now be blocked (decision %s): %s",
            deployment.key,
            decision.id,
            ", ".join(code for code, _, _ in alert.new),
        )
        return alert
