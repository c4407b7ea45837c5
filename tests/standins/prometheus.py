"""A loopback stand-in for the Prometheus HTTP API's instant queries (``GET /api/v1/query``).

It evaluates nothing: each query text it knows has a scripted instant vector, answered in the
API's envelope (tests/fixtures/prometheus/query.vector.prometheus-docs.json, the documentation's
example): ``{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {...},
"value": [<unix time>, "<value>"]}]}}``. An unknown query answers an empty vector, as
Prometheus does for a metric it has no series of; a query set to ``ERROR`` answers the API's
400 ``{"status": "error", "errorType": "bad_data", "error": …}``. HTTP Basic (Prometheus's
``--web.config.file``) when a password is set; queued replies play a 429/503 or a proxy's page.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from standins._server import Loopback, Reply, Scripted, StandInHandler

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "prometheus"
USERNAME = "clearance"
PASSWORD = "pr0metheus-standin-basic-auth-p4ss-0123456789"
EVALUATED_AT = 1796212800.0  # 2026-12-02T12:00:00Z: when the stand-in "evaluates"
ERROR = "ERROR"


def sample(value: str, **labels: str) -> dict[str, Any]:
    """One vector element, shaped as the documentation's example."""
    body = json.loads((FIXTURES / "query.vector.prometheus-docs.json").read_text())
    element: dict[str, Any] = copy.deepcopy(body["data"]["result"][0])
    element["metric"] = dict(labels)
    element["value"] = [EVALUATED_AT, value]
    return element


@dataclass
class PrometheusState:
    vectors: dict[str, list[dict[str, Any]] | str] = field(default_factory=dict)
    password: str | None = PASSWORD
    # When the answer says it was evaluated: fixed (so two reads are equal), or None for the
    # moment of the request, as a real Prometheus answers an instant query without ``time``.
    evaluated_at: float | None = EVALUATED_AT
    scripted: Scripted = field(default_factory=Scripted)

    def burn(self, query: str, *rates: str, **labels: str) -> None:
        self.vectors[query] = [sample(rate, **labels) for rate in rates]


class PrometheusHandler(StandInHandler):
    state: ClassVar[PrometheusState]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.record()
        if self.state.password is not None:
            pair = f"{USERNAME}:{self.state.password}".encode()
            if self.headers.get("Authorization") != f"Basic {base64.b64encode(pair).decode()}":
                headers = {"WWW-Authenticate": "Basic", "Content-Type": "text/plain; charset=utf-8"}
                self.send(Reply(401, b"Unauthorized\n", headers))
                return
        if self.play_queued():
            return
        if self.path_only != "/api/v1/query":
            self.send(Reply(404, b"404 page not found\n", {"Content-Type": "text/plain"}))
            return
        query = self.query.get("query", "")
        found = self.state.vectors.get(query, [])
        if found == ERROR or not query:
            error = "1:1: parse error: unexpected end of input" if not query else "parse error"
            self.send_json(400, {"status": "error", "errorType": "bad_data", "error": error})
            return
        at = time.time() if self.state.evaluated_at is None else self.state.evaluated_at
        result = [{**e, "value": [at, e["value"][1]]} for e in found if isinstance(e, dict)]
        body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        self.send_json(200, body)


def serve(state: PrometheusState) -> Loopback:
    return Loopback(PrometheusHandler, state)
