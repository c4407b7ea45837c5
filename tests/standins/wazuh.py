"""A loopback stand-in for the Wazuh indexer's (OpenSearch) search API.

What it serves (facts: ../shared/reference/signal-sources.md §6; the hit shape, with its
``sort: [<epoch ms>]`` on ``timestamp``, from tests/fixtures/wazuh/alert.indexed-shellshock.
wazuh-indexer-sample.json, a real hit of a wazuh-alerts-4.x index):

* ``POST /{index}/_search`` with HTTP Basic auth. The body's ``size``, ``sort`` (``timestamp``
  then keyword tie-breakers, ascending), ``search_after`` and ``query.bool.filter`` ``range``
  terms on ``timestamp`` and ``rule.level`` are honoured; the answer is OpenSearch's
  ``{"took", "timed_out", "_shards", "hits": {"total", "max_score", "hits": [{"_index",
  "_id", "_score", "_source", "sort"}]}}``.
* The Wazuh *server* API (facts: ../shared/reference/signal-sources.md §6): ``POST
  /security/user/authenticate`` with the API user's HTTP Basic → ``{"data": {"token": <JWT>},
  "error": 0}``; ``GET /agents`` with ``Authorization: Bearer`` (``offset``, ``limit``,
  ``sort=+id``) → ``{"data": {"affected_items", "total_affected_items", "total_failed_items",
  "failed_items"}, "message", "error": 0}``, the records shaped as
  tests/fixtures/wazuh/agents.server-api-4.7.json. A wrong login or an unknown (or revoked,
  :meth:`WazuhState.expire_tokens`) token → 401 ``{"title": "Unauthorized", "detail": …}``.
* Bad credentials → 401 with ``WWW-Authenticate: Basic realm="OpenSearch Security"`` and the
  plain-text body ``Unauthorized`` (the security plugin's answer). Queued replies
  (:class:`Scripted`) play OpenSearch's 429 ``rejected_execution_exception`` (no
  ``Retry-After``), 5xx or a proxy's HTML page.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from standins._server import Loopback, Reply, Scripted, StandInHandler, add_numbered

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wazuh"
USERNAME = "clearance-reader"
PASSWORD = "W4zuh-indexer-standin-p4ss!0123456789XYZ"
API_USERNAME = "clearance-api"
API_PASSWORD = "W4zuh-server-api-standin.S3cret*0123456789"
REJECTED_429 = {
    "error": {
        "root_cause": [{"type": "rejected_execution_exception", "reason": "rejected execution"}],
        "type": "rejected_execution_exception",
        "reason": "rejected execution of coordinating operation",
    },
    "status": 429,
}


def fixture_hit() -> dict[str, Any]:
    hit: dict[str, Any] = json.loads(
        (FIXTURES / "alert.indexed-shellshock.wazuh-indexer-sample.json").read_text()
    )
    return hit


def numbered_alert(n: int, moment: datetime) -> dict[str, Any]:
    """The real indexed alert (its ``_source``) with its own id, agent and time."""
    alert: dict[str, Any] = copy.deepcopy(fixture_hit()["_source"])
    epoch = int(moment.timestamp())
    alert["id"] = f"{epoch}.{872885 + n}"
    alert["timestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    agent = n % 40 + 1  # one agent keeps its name and address
    alert["agent"] = {
        "id": f"{agent:03d}",
        "name": f"ip-10-0-0-{agent}.us-west-1.compute.internal",
        "ip": f"10.0.0.{agent}",
    }
    return alert


def _millis(alert: Any) -> int:
    text = alert.get("timestamp") if isinstance(alert, dict) else None
    try:
        moment = datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return 0
    return int(moment.timestamp() * 1000)


def _keyword(alert: Any, *path: str) -> str:
    value: Any = alert
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else "\uffff"  # missing sorts last


def sort_values(alert: Any) -> list[Any]:
    return [
        _millis(alert),
        _keyword(alert, "id"),
        _keyword(alert, "agent", "id"),
        _keyword(alert, "rule", "id"),
    ]


def fixture_agents() -> list[dict[str, Any]]:
    """The agent records of a real-shaped ``GET /agents`` answer (disconnected, never connected)."""
    body: dict[str, Any] = json.loads((FIXTURES / "agents.server-api-4.7.json").read_text())
    items: list[dict[str, Any]] = body["data"]["affected_items"]
    return items


@dataclass
class WazuhState:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    agents: list[dict[str, Any]] = field(default_factory=list)
    password: str = PASSWORD
    tokens: set[str] = field(default_factory=set)
    logins: int = 0
    scripted: Scripted = field(default_factory=Scripted)
    clock: datetime = field(default_factory=lambda: datetime(2025, 6, 1, tzinfo=UTC))

    def add_agent(self, name: str, status: str, last_keep_alive: str | None) -> dict[str, Any]:
        """The real disconnected agent record as another machine, in ``status``."""
        agent = copy.deepcopy(fixture_agents()[0])
        n = len(self.agents) + 1
        agent.update(id=f"{n:03d}", name=name, ip=f"10.0.9.{n}", status=status)
        agent.pop("disconnection_time", None)
        if last_keep_alive is None:
            agent.pop("lastKeepAlive", None)  # as a never_connected agent's record
        else:
            agent["lastKeepAlive"] = last_keep_alive
        self.agents.append(agent)
        return agent

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def add_alerts(self, count: int) -> list[dict[str, Any]]:
        first = len(self.alerts)
        self.clock = add_numbered(self.alerts, count, self.clock, numbered_alert)
        return self.alerts[first:]


def _range_ok(alert: dict[str, Any], term: dict[str, Any]) -> bool:
    ((name, bounds),) = term["range"].items()
    if name == "rule.level":
        level = alert.get("rule", {}).get("level")
        return isinstance(level, int) and level >= int(bounds.get("gte", 0))
    since = datetime.fromisoformat(str(bounds.get("gte", bounds.get("gt"))).replace("Z", "+00:00"))
    limit = int(since.timestamp() * 1000)
    return _millis(alert) >= limit if "gte" in bounds else _millis(alert) > limit


class WazuhHandler(StandInHandler):
    state: ClassVar[WazuhState]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.record()
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.state.tokens:
            self.send_json(401, {"title": "Unauthorized", "detail": "Invalid token"})
            return
        if self.play_queued():
            return
        if self.path_only != "/agents":
            self.send_json(404, {"title": "Not Found", "detail": "404: Not Found"})
            return
        ordered = sorted(self.state.agents, key=lambda a: str(a.get("id")))
        if self.query.get("sort", "+id") == "-id":
            ordered.reverse()
        offset, limit = int(self.query.get("offset", 0)), int(self.query.get("limit", 500))
        data = {
            "affected_items": ordered[offset : offset + limit],
            "total_affected_items": len(ordered),
            "total_failed_items": 0,
            "failed_items": [],
        }
        message = "All selected agents information was returned"
        self.send_json(200, {"data": data, "message": message, "error": 0})

    def _authenticate(self) -> None:
        self.state.logins += 1
        expected = base64.b64encode(f"{API_USERNAME}:{API_PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            self.send_json(401, {"title": "Unauthorized", "detail": "Invalid credentials"})
            return
        token = secrets.token_urlsafe(32)
        self.state.tokens.add(token)
        self.send_json(200, {"data": {"token": token}, "error": 0})

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.record()
        if self.path_only == "/security/user/authenticate":
            self._authenticate()
            return
        expected = base64.b64encode(f"{USERNAME}:{self.state.password}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            headers = {
                "WWW-Authenticate": 'Basic realm="OpenSearch Security"',
                "Content-Type": "text/plain; charset=UTF-8",
            }
            self.send(Reply(401, b"Unauthorized", headers))
            return
        if self.play_queued():
            return
        if not self.path_only.endswith("/_search"):
            self.send_json(405, {"error": "Incorrect HTTP method", "status": 405})
            return
        index = self.path_only.split("/")[1]
        request = self.json_body() or {}
        size = int(request.get("size", 10))
        filters = request.get("query", {}).get("bool", {}).get("filter", [])
        selected = [a for a in self.state.alerts if all(_range_ok(a, f) for f in filters)]
        selected.sort(key=sort_values)
        after = request.get("search_after")
        if after is not None:
            selected = [a for a in selected if sort_values(a) > list(after)]
        page = selected[:size]
        hits = [
            {
                "_index": f"{index.rstrip('*')}2025.06.01",
                "_id": str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(sort_values(a)))),
                "_score": None,
                "_source": a,
                "sort": sort_values(a),
            }
            for a in page
        ]
        body = {
            "took": 1,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {
                "total": {"value": len(selected), "relation": "eq"},
                "max_score": None,
                "hits": hits,
            },
        }
        self.send_json(200, body)


def serve(state: WazuhState) -> Loopback:
    return Loopback(WazuhHandler, state)
