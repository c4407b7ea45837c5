"""A stand-in for a Microsoft Teams Workflows webhook ("When a Teams webhook request is
received" → "Post card in a chat or channel"), which replaced Office 365 connectors.

    POST /workflows/{id}/triggers/manual/paths/invoke?sig=…   → 202, empty body

Wire format from Microsoft's docs ("Create incoming webhooks with Workflows for Microsoft
Teams", Adaptive Cards schema): the body is a message whose ``attachments`` hold Adaptive
Cards, ``contentType`` ``application/vnd.microsoft.card.adaptive``, ``content`` a card with
``type: AdaptiveCard``, a ``version`` Teams renders (≤ 1.5) and a ``body``; anything else is
400. ``Action.OpenUrl`` actions need a ``title`` and an absolute ``url``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from standins._server import Reply, Scripted, StandInHandler

CARD = "application/vnd.microsoft.card.adaptive"
VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")


@dataclass
class TeamsState:
    cards: list[dict[str, Any]] = field(default_factory=list)  # the cards' content, in order
    scripted: Scripted = field(default_factory=Scripted)


def card_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("type") != "message":
        return "the body must be a message"
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "attachments is empty"
    for item in attachments:
        content = item.get("content") if isinstance(item, dict) else None
        if item.get("contentType") != CARD or not isinstance(content, dict):
            return f"attachments need contentType {CARD} and content"
        if content.get("type") != "AdaptiveCard" or content.get("version") not in VERSIONS:
            return "content must be an AdaptiveCard of version 1.0 to 1.5"
        if not isinstance(content.get("body"), list) or not content["body"]:
            return "the card has no body"
        for action in content.get("actions", []):
            if action.get("type") == "Action.OpenUrl" and not (
                action.get("title")
                and str(action.get("url", "")).startswith(("https://", "http://"))
            ):
                return "Action.OpenUrl needs a title and an absolute url"
    return None


class TeamsHandler(StandInHandler):
    state: ClassVar[TeamsState]

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.record()
        raw = self.body()
        if self.play_queued():
            return
        if not self.path_only.startswith("/workflows/"):
            self.send_json(404, {"error": {"code": "TriggerNotFound"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        problem = card_problem(body)
        if problem is not None:
            self.send_json(400, {"error": {"code": "InvalidTemplate", "message": problem}})
            return
        self.state.cards.extend(a["content"] for a in body["attachments"])
        self.send(Reply(202, b"", {}))
