"""A stand-in for Slack's incoming webhooks and interaction ``response_url`` endpoints.

    POST /services/{T}/{B}/{secret}      an incoming webhook: a message (text and/or blocks)
    POST /actions/{T}/{id}/{secret}      a click's response_url: the reply to the clicker

Wire format from Slack's docs ("Sending messages using incoming webhooks", "Block Kit"
reference, "Handling user interaction"): success is 200 with the text body ``ok``; a message
with neither ``text`` nor ``blocks`` is 400 ``no_text``; blocks that break Block Kit's limits
(50 blocks, header text 150 characters, section text 3000, 25 elements per actions block,
button text 75, value 2000, action_id 255) are 400 ``invalid_blocks``. Accepted messages are
kept in order; failures can be queued (``scripted.queue``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from standins._server import Reply, Scripted, StandInHandler


@dataclass
class SlackState:
    messages: list[dict[str, Any]] = field(default_factory=list)  # incoming-webhook messages
    replies: list[dict[str, Any]] = field(default_factory=list)  # response_url posts
    scripted: Scripted = field(default_factory=Scripted)


def _text(obj: Any, limit: int) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("text"), str) and len(obj["text"]) <= limit


def _element_ok(element: Any) -> bool:
    if not isinstance(element, dict) or element.get("type") != "button":
        return False
    text = element.get("text")
    return (
        isinstance(text, dict)
        and _text(text, 75)
        and text.get("type") == "plain_text"
        and len(str(element.get("action_id", ""))) <= 255
        and len(str(element.get("value", ""))) <= 2000
        and len(str(element.get("url", ""))) <= 3000
        and element.get("style") in (None, "primary", "danger")
    )


def _block_ok(block: Any) -> bool:
    if not isinstance(block, dict):
        return False
    kind = block.get("type")
    if kind == "header":
        return _text(block.get("text"), 150) and block["text"].get("type") == "plain_text"
    if kind == "section":
        return _text(block.get("text"), 3000)
    if kind == "actions":
        elements = block.get("elements")
        return (
            isinstance(elements, list)
            and 0 < len(elements) <= 25
            and all(_element_ok(e) for e in elements)
        )
    return kind in ("divider", "context")


def valid_message(body: Any) -> str | None:
    """Slack's error code for a message it would refuse, else None."""
    if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
        return "no_text"
    blocks = body.get("blocks")
    if blocks is not None and (
        not isinstance(blocks, list) or len(blocks) > 50 or not all(_block_ok(b) for b in blocks)
    ):
        return "invalid_blocks"
    return None


class SlackHandler(StandInHandler):
    state: ClassVar[SlackState]

    def _plain(self, status: int, text: str) -> None:
        self.send(Reply(status, text.encode(), {"Content-Type": "text/plain"}))

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.record()
        raw = self.body()
        if self.play_queued():
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._plain(400, "invalid_payload")
            return
        if self.path_only.startswith("/services/"):
            problem = valid_message(body)
            if problem is not None:
                self._plain(400, problem)
                return
            self.state.messages.append(body)
        elif self.path_only.startswith("/actions/"):
            self.state.replies.append(body)
        else:
            self._plain(404, "no_service")
            return
        self._plain(200, "ok")
