"""Slack's request signing, and the parts of an interaction payload Clearance acts on.

Slack signs each request to an app's interaction URL: ``X-Slack-Signature`` is
``v0=`` + hex HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with the app's
signing secret. A request is accepted only when that matches (compared in constant time) and
its timestamp is within ``window`` seconds of the service's clock, so a captured request cannot
be replayed later. The body is ``payload=<JSON>``, form-encoded; a ``block_actions`` payload
names the clicking user (``user.id``) and the button (``actions[0].action_id``/``value``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from clearance.errors import CallerError, SignatureError


@dataclass(frozen=True, slots=True)
class Click:
    user_id: str
    user_name: str | None
    action_id: str
    value: str
    response_url: str | None


def verify(
    secret: bytes, headers: Mapping[str, str], body: bytes, now: datetime, window: int
) -> None:
    """Raise :class:`SignatureError` unless Slack signed ``body`` within ``window`` seconds."""
    stamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not stamp.isdigit() or not signature:
        raise SignatureError("not signed: X-Slack-Signature and X-Slack-Request-Timestamp needed")
    if abs(now.timestamp() - int(stamp)) > window:
        raise SignatureError(f"the request's timestamp is more than {window} s from now (replay?)")
    base = b"v0:" + stamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("the signature does not match the signing secret")


def click(body: bytes) -> Click:
    """The button click in a ``block_actions`` payload (CallerError when it is not one)."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload: Any = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise CallerError("the body is not a Slack interaction (payload=<JSON>)") from exc
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise CallerError("only block_actions interactions are handled")
    user, actions = payload.get("user"), payload.get("actions")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        raise CallerError("payload.user.id is missing")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise CallerError("payload.actions is empty")
    action = actions[0]
    if not isinstance(action.get("action_id"), str) or not isinstance(action.get("value"), str):
        raise CallerError("payload.actions[0] has no action_id and value")
    response_url = payload.get("response_url")
    return Click(
        user_id=user["id"],
        user_name=user.get("username") if isinstance(user.get("username"), str) else None,
        action_id=action["action_id"],
        value=action["value"],
        response_url=response_url if isinstance(response_url, str) else None,
    )
