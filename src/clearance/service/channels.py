"""What an approval event says, in each channel's own format: Slack Block Kit, a Microsoft
Teams Adaptive Card (posted to a Workflows webhook), and the generic webhook's JSON.

Pure functions of the event and the decision: the same event gives the same message. Every
message links to the decision's console page; Slack's ``approval_needed`` message also carries
Approve / Reject buttons, whose clicks come back to ``/v1/integrations/slack/interactions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

# Every event a channel can be sent; an environment's ``channels.events`` picks among them.
NotifyEvent = Literal[
    "approval_needed",
    "approved",
    "rejected",
    "break_glass",
    "expired",
    "exception_expiring",
    "watch_alert",
]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = get_args(NotifyEvent)

APPROVE_ACTION = "clearance_approve"
REJECT_ACTION = "clearance_reject"

HEADLINES = {
    "approval_needed": "Approval needed",
    "approved": "Approved",
    "rejected": "Rejected",
    "break_glass": "Break-glass",
    "expired": "Approval expired",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One approval event of one decision, with what a person needs to act on it."""

    name: str  # approval_needed | approved | rejected | break_glass | expired
    decision: Mapping[str, Any]  # the decision's JSON (Decision.to_dict)
    requester: str | None
    required: int
    group: str | None
    approvers: tuple[str, ...]
    url: str | None  # the decision's console page

    @property
    def target(self) -> str:
        t = self.decision["target"]
        return f"{t['cluster']}/{t['namespace']}/{t['workload']}"

    @property
    def environment(self) -> str:
        return str(self.decision["target"]["environment"])

    @property
    def summary(self) -> str:
        d = self.decision
        return (
            f"{HEADLINES[self.name]}: {self.environment} {self.target} — verdict {d['verdict']}, "
            f"score {d['score']:g}"
        )

    def needs(self) -> str:
        group = f" from {self.group}" if self.group else ""
        done = f"; approved by {', '.join(self.approvers)}" if self.approvers else ""
        return f"needs {self.required}{group}{done}"

    def reasons(self, count: int = 3) -> list[str]:
        ranked = sorted(
            self.decision["reasons"],
            key=lambda r: {"block": 0, "approve": 1}.get(str(r.get("verdict")), 2),
        )
        return [str(r["message"]) for r in ranked[:count]]


def _mrkdwn(text: str) -> str:
    """Slack's three control characters, escaped as its docs require."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(event: Event) -> dict[str, Any]:
    """A Block Kit message for an incoming webhook (``text`` is the notification fallback)."""
    d = event.decision
    lines = [
        f"*{_mrkdwn(event.target)}* in *{_mrkdwn(event.environment)}*: verdict *{d['verdict']}*, "
        f"score *{d['score']:g}* (approve at {d['thresholds']['approve']:g}, block at "
        f"{d['thresholds']['block']:g})",
        f"Requested by {_mrkdwn(event.requester or 'unknown')} · {_mrkdwn(event.needs())}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(event.summary, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut("\n".join(lines), 3000)}},
    ]
    reasons = "\n".join(f"• {_mrkdwn(r)}" for r in event.reasons())
    if reasons:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(reasons, 3000)}})
    elements: list[dict[str, Any]] = []
    decision_id = str(d["id"])
    if event.name == "approval_needed":
        elements += [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "value": decision_id,
            },
            {
                "type": "button",
                "action_id": REJECT_ACTION,
                "text": {"type": "plain_text", "text": "Reject"},
                "style": "danger",
                "value": decision_id,
            },
        ]
    if event.url:
        elements.append(
            {
                "type": "button",
                "action_id": "clearance_open",
                "text": {"type": "plain_text", "text": "Open decision"},
                "url": event.url,
            }
        )
    if elements:
        blocks.append(
            {"type": "actions", "block_id": f"clearance:{decision_id}", "elements": elements}
        )
    return {"text": _cut(event.summary, 3000), "blocks": blocks}


def teams_card(event: Event) -> dict[str, Any]:
    """An Adaptive Card in the message envelope a Teams Workflows webhook takes."""
    d = event.decision
    facts = [
        {"title": "Environment", "value": event.environment},
        {"title": "Target", "value": event.target},
        {"title": "Verdict", "value": str(d["verdict"])},
        {"title": "Score", "value": f"{d['score']:g} (approve at {d['thresholds']['approve']:g}, "
         f"block at {d['thresholds']['block']:g})"},
        {"title": "Requested by", "value": event.requester or "unknown"},
        {"title": "Approvals", "value": event.needs()},
    ]  # fmt: skip
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True,
         "text": event.summary},
        {"type": "FactSet", "facts": facts},
        *({"type": "TextBlock", "wrap": True, "text": f"- {r}"} for r in event.reasons()),
    ]  # fmt: skip
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if event.url:
        title = "Review and approve" if event.name == "approval_needed" else "Open decision"
        card["actions"] = [{"type": "Action.OpenUrl", "title": title, "url": event.url}]
    return _teams_message(card)


def _teams_message(card: dict[str, Any]) -> dict[str, Any]:
    """An Adaptive Card as the message a Teams Workflows webhook posts."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def webhook_payload(event: Event) -> dict[str, Any]:
    d = event.decision
    return {
        "event": f"approval.{event.name}" if event.name != "break_glass" else "break_glass",
        "decision": {
            "id": d["id"],
            "verdict": d["verdict"],
            "score": d["score"],
            "target": d["target"],
            "requested_by": event.requester,
            "approvals": {"required": event.required, "group": event.group,
                          "approvers": list(event.approvers)},
            "url": event.url,
        },
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Notice:
    """An event about something other than one decision's approval (an exception about to
    expire, a deployed target the watcher would now block): a headline, the facts, a link, and
    the generic webhook's JSON as it is."""

    name: str  # exception_expiring | watch_alert
    environment: str
    headline: str
    lines: tuple[str, ...]
    url: str | None
    payload: Mapping[str, Any]


def slack_notice(notice: Notice) -> dict[str, Any]:
    text = "\n".join(_mrkdwn(line) for line in notice.lines)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(notice.headline, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text or "-", 3000)}},
    ]
    if notice.url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "clearance_open",
                        "text": {"type": "plain_text", "text": "Open"},
                        "url": notice.url,
                    }
                ],
            }
        )
    return {"text": _cut(notice.headline, 3000), "blocks": blocks}


def teams_notice(notice: Notice) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True,
             "text": notice.headline},
            *({"type": "TextBlock", "wrap": True, "text": line} for line in notice.lines),
        ],
    }  # fmt: skip
    if notice.url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": notice.url}]
    return _teams_message(card)


def notice_payload(notice: Notice) -> dict[str, Any]:
    return dict(notice.payload)
