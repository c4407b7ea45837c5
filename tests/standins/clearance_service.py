"""A stand-in Clearance service: the decisions API's wire format, with scripted misbehaviour.

For what the real service will not do on demand: answer 503 or 429 with ``Retry-After`` a set
number of times, hang up without answering, or (as a careless proxy might) echo the caller's
``Authorization`` header back in an error. It answers ``POST /v1/decisions`` and
``GET /v1/decisions/{id}`` with ``answer`` (the body the real service sends, built by
:func:`answer_body` from a real Decision), and records every request with its bearer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from clearance.model.decision import Decision
from standins._server import Scripted, StandInHandler

HANG_UP = 0  # a queued status that closes the connection without an answer


def answer_body(decision: Decision, status: str, exit_code: int, seq: int = 1) -> dict[str, Any]:
    """What ``POST /v1/decisions`` answers for ``decision`` (service/decisions.py Outcome)."""
    return {
        "id": decision.id, "seq": seq, "hash": "ab" * 32, "status": status,
        "exit_code": exit_code, "requested_by": "token:ci", "decision": decision.to_dict(),
        "approval": {"required": decision.approvals_required, "group": decision.approval_group,
                     "approvers": [], "rejected_by": [], "voided": []},
    }  # fmt: skip


@dataclass
class ServiceState:
    answer: dict[str, Any]
    scripted: Scripted = field(default_factory=Scripted)
    bearers: list[str] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    echo_auth: bool = False  # answer 401 with the Authorization header in the detail


class ClearanceHandler(StandInHandler):
    state: ClassVar[ServiceState]

    def do_POST(self) -> None:  # noqa: N802
        self._seen(self.json_body())
        self._answer()

    def do_GET(self) -> None:  # noqa: N802
        self._seen(None)
        self._answer()

    def _seen(self, body: Any) -> None:
        self.record()
        self.state.bearers.append(self.headers.get("Authorization", ""))
        self.state.bodies.append(body)

    def _answer(self) -> None:
        if self.state.echo_auth:
            detail = f"token {self.headers.get('Authorization')} is not known here"
            self.send_json(401, {"title": "unauthenticated", "status": 401, "detail": detail})
            return
        reply = self.state.scripted.next_queued()
        if reply is not None and reply.status == HANG_UP:
            self.close_connection = True
            self.wfile.flush()
            self.connection.close()
            return
        if reply is not None:
            self.send(reply)
            return
        self.send_json(200, self.state.answer)


def busy(status: int, retry_after: str) -> tuple[int, bytes, dict[str, str]]:
    """A problem answer as the service sends it under load (server/errors.py)."""
    title = {429: "overloaded", 503: "store unavailable"}[status]
    body = {"type": "about:blank", "title": title, "status": status, "detail": "retry shortly"}
    return status, json.dumps(body).encode(), {"Retry-After": retry_after}
