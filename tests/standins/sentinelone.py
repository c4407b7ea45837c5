"""A loopback stand-in for the SentinelOne Management API v2.1 (threats).

What it serves (facts: ../shared/reference/signal-sources.md §4; payload shape from
tests/fixtures/sentinelone/threats-v2.1.trimmed.json, a real ``GET /web/api/v2.1/threats`` body):

* ``GET /web/api/v2.1/threats`` with ``Authorization: ApiToken <token>``: ``limit`` (1–1000),
  ``cursor``, ``sortBy=updatedAt``, ``sortOrder``, ``updatedAt__gte``/``updatedAt__gt``,
  ``siteIds`` → ``{"data": [...], "pagination": {"nextCursor", "totalItems"}}``; the cursor is
  opaque (base64 of the offset here) and null on the last page.
* ``GET /web/api/v2.1/agents`` (``limit``, ``cursor``) → the agents added with
  :meth:`SentinelOneState.add_agent`, paged like threats.
* A wrong token → 401 ``{"errors": [{"code": 4010010, "detail": null, "title": "Authentication
  Failed"}]}`` (the ``errors[]`` envelope is reported by SDKs/integrations; the code is
  unverified). Queued replies (:class:`Scripted`) play 429 (no ``Retry-After``: none is
  documented publicly), 5xx or a proxy's HTML page.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from standins._server import Loopback, Scripted, StandInHandler, add_numbered, moment

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sentinelone"
API_TOKEN = "eyJraWQiOiJ0b2tlblNpZ25pbmciLCJhbGciOiJFUzI1NiJ9.s1-standin-token.0123456789XYZ"
THREATS_PATH = "/web/api/v2.1/threats"
AGENTS_PATH = "/web/api/v2.1/agents"


def fixture_agent() -> dict[str, Any]:
    """The real agent record (Sumo Logic's sample of the agents API, sanitized upstream)."""
    data: dict[str, Any] = json.loads((FIXTURES / "agent.sumologic-docs-sample.json").read_text())
    return data


def fixture_threats() -> list[dict[str, Any]]:
    data = json.loads((FIXTURES / "threats-v2.1.trimmed.json").read_text())
    threats: list[dict[str, Any]] = data["data"]
    return threats


def numbered_threat(n: int, updated: datetime) -> dict[str, Any]:
    """A real threat with its own id, agent and update time (for paging)."""
    threat: dict[str, Any] = copy.deepcopy(fixture_threats()[n % 2])
    threat["id"] = str(715718962991148224 + n)
    info = threat["threatInfo"]
    info["threatId"] = threat["id"]
    info["updatedAt"] = updated.isoformat().replace("+00:00", "Z")
    agent = threat["agentRealtimeInfo"]
    agent["agentId"] = str(657613730168123595 + n % 20)
    agent["agentComputerName"] = f"EC2AMAZ-{n % 20:07d}"
    agent["networkInterfaces"][0]["inet"] = [f"10.0.0.{n % 20 + 1}"]
    agent["networkInterfaces"][0]["physical"] = f"06:35:e6:62:53:{n % 20:02x}"
    return threat


def _errors(code: int, title: str, detail: str | None = None) -> dict[str, Any]:
    return {"errors": [{"code": code, "detail": detail, "title": title}]}


@dataclass
class SentinelOneState:
    threats: list[dict[str, Any]] = field(default_factory=list)
    agents: list[dict[str, Any]] = field(default_factory=list)
    api_token: str = API_TOKEN
    scripted: Scripted = field(default_factory=Scripted)
    clock: datetime = field(default_factory=lambda: datetime(2025, 6, 1, tzinfo=UTC))

    def add_agent(self, computer_name: str, last_active: str, **more: Any) -> dict[str, Any]:
        """The real agent record as another machine (its own id, name and check-in time)."""
        agent = fixture_agent()
        n = len(self.agents) + 1
        agent.update(
            id=f"14834719513{n}", uuid=f"be20d732fc87bd479e{n:02x}", computerName=computer_name,
            lastActiveDate=last_active, **more,
        )  # fmt: skip
        self.agents.append(agent)
        return agent

    def add_threats(self, count: int) -> list[dict[str, Any]]:
        first = len(self.threats)
        self.clock = add_numbered(self.threats, count, self.clock, numbered_threat)
        return self.threats[first:]


def _updated(threat: Any) -> str:
    info = threat.get("threatInfo") if isinstance(threat, dict) else None
    text = info.get("updatedAt") if isinstance(info, dict) else None
    return text if isinstance(text, str) else ""


class SentinelOneHandler(StandInHandler):
    state: ClassVar[SentinelOneState]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.record()
        if self.headers.get("Authorization") != f"ApiToken {self.state.api_token}":
            self.send_json(401, _errors(4010010, "Authentication Failed"))
            return
        if self.play_queued():
            return
        if self.path_only == AGENTS_PATH:
            self._agents()
            return
        if self.path_only != THREATS_PATH:
            self.send_json(404, _errors(4040010, "Resource not found"))
            return
        query = self.query
        limit = int(query.get("limit", 10))
        if not 1 <= limit <= 1000:
            self.send_json(400, _errors(4000010, "Validation Error", "limit: must be 1-1000"))
            return
        selected = sorted(self.state.threats, key=lambda t: moment(_updated(t)))
        if query.get("sortOrder") == "desc":
            selected.reverse()
        if "updatedAt__gte" in query:
            since = moment(query["updatedAt__gte"])
            selected = [t for t in selected if moment(_updated(t)) >= since]
        if "updatedAt__gt" in query:
            since = moment(query["updatedAt__gt"])
            selected = [t for t in selected if moment(_updated(t)) > since]
        offset = int(base64.b64decode(query["cursor"]).decode()) if "cursor" in query else 0
        page = selected[offset : offset + limit]
        more = offset + limit < len(selected)
        cursor = base64.b64encode(str(offset + limit).encode()).decode() if more else None
        body = {"data": page, "pagination": {"nextCursor": cursor, "totalItems": len(selected)}}
        self.send_json(200, body)

    def _agents(self) -> None:
        limit = int(self.query.get("limit", 10))
        offset = (
            int(base64.b64decode(self.query["cursor"]).decode()) if "cursor" in self.query else 0
        )
        page = self.state.agents[offset : offset + limit]
        more = offset + limit < len(self.state.agents)
        cursor = base64.b64encode(str(offset + limit).encode()).decode() if more else None
        pagination = {"nextCursor": cursor, "totalItems": len(self.state.agents)}
        self.send_json(200, {"data": page, "pagination": pagination})


def serve(state: SentinelOneState) -> Loopback:
    return Loopback(SentinelOneHandler, state)
