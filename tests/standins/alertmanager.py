"""A loopback stand-in for Prometheus Alertmanager's API v2 (``GET /api/v2/alerts``).

What it serves (prometheus/alertmanager ``api/v2/openapi.yaml``, operation ``getAlerts``): a JSON
list of ``gettableAlert`` objects, the shape of tests/fixtures/alertmanager/
alerts.v2.karma-mock-0.27.0.json (recorded from a real Alertmanager 0.27.0). The query
parameters ``active``, ``silenced``, ``inhibited``, ``unprocessed`` (booleans, default true)
and repeated ``filter`` matchers (``name="value"``, ``name!="value"``) are honoured as
Alertmanager does; a malformed matcher is its 400 ``"bad matcher format: …"``.

Alertmanager authenticates with HTTP Basic when its ``--web.config.file`` names
``basic_auth_users`` (the Prometheus exporter-toolkit): a wrong password is a 401 with
``WWW-Authenticate: Basic`` and the body ``Unauthorized``. Queued replies (:class:`Scripted`)
play a proxy's 429 or 5xx, or its HTML page.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from standins._server import Loopback, Reply, Scripted, StandInHandler, add_numbered

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"
USERNAME = "clearance"
PASSWORD = "al3rtmanager-standin-basic-auth-p4ss-0123456789"
TOO_MANY = (
    b"<html><head><title>429 Too Many Requests</title></head><body><center>"
    b"<h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>"
)
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=|!=)\s*"([^"]*)"\s*$')


def fixture_alerts() -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = json.loads(
        (FIXTURES / "alerts.v2.karma-mock-0.27.0.json").read_text()
    )
    return alerts


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def kube_alert(
    labels: dict[str, str],
    *,
    fingerprint: str,
    moment: datetime,
    summary: str = "",
    state: str = "active",
) -> dict[str, Any]:
    """The real recorded alert with the labels a kube-prometheus rule gives it, its own
    fingerprint and times."""
    alert = copy.deepcopy(fixture_alerts()[2])  # HTTP_Probe_Failed, active, not silenced
    alert["labels"] = dict(labels)
    alert["fingerprint"] = fingerprint
    alert["startsAt"] = _stamp(moment)
    alert["updatedAt"] = _stamp(moment)
    alert["annotations"] = {"summary": summary} if summary else {}
    alert["generatorURL"] = (
        "http://prometheus.monitoring:9090/graph?g0.expr="
        + urllib.parse.quote(f'ALERTS{{alertname="{labels.get("alertname", "")}"}}')
        + "&g0.tab=1"
    )
    if state != "active":
        alert["status"] = {"inhibitedBy": [], "silencedBy": ["silence-1"], "state": state}
    return alert


def numbered_alert(n: int, moment: datetime) -> dict[str, Any]:
    labels = {
        "alertname": "KubePodCrashLooping",
        "container": "app",
        "job": "kube-state-metrics",
        "namespace": "shop",
        "pod": f"checkout-{n}",
        "severity": "warning",
    }
    return kube_alert(
        labels,
        fingerprint=f"{0x5C0FFEE000000000 + n:016x}",
        moment=moment,
        summary="Pod is crash looping.",
    )


@dataclass
class AlertmanagerState:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    password: str | None = PASSWORD  # None: no basic auth configured
    scripted: Scripted = field(default_factory=Scripted)
    clock: datetime = field(default_factory=lambda: datetime(2026, 11, 28, 11, 0, tzinfo=UTC))

    def add_alerts(self, count: int) -> list[dict[str, Any]]:
        first = len(self.alerts)
        self.clock = add_numbered(self.alerts, count, self.clock, numbered_alert)
        return self.alerts[first:]


def _flag(query: list[tuple[str, str]], name: str) -> bool:
    values = [v for k, v in query if k == name]
    return not values or values[-1].lower() == "true"


def _selected(alert: dict[str, Any], query: list[tuple[str, str]]) -> bool:
    found = alert.get("status")
    status: dict[str, Any] = found if isinstance(found, dict) else {}
    state = status.get("state", "active")
    if status.get("silencedBy") and not _flag(query, "silenced"):
        return False
    if status.get("inhibitedBy") and not _flag(query, "inhibited"):
        return False
    if state == "active" and not _flag(query, "active"):
        return False
    return not (state == "unprocessed" and not _flag(query, "unprocessed"))


class AlertmanagerHandler(StandInHandler):
    state: ClassVar[AlertmanagerState]

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
        if self.path_only != "/api/v2/alerts":
            self.send(Reply(404, b"404 page not found\n", {"Content-Type": "text/plain"}))
            return
        query = urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)
        matchers = []
        for key, value in query:
            if key != "filter":
                continue
            parsed = _MATCHER.match(value)
            if parsed is None:
                self.send_json(400, f"bad matcher format: {value}")
                return
            matchers.append(parsed.groups())
        answer = []
        for alert in self.state.alerts:
            found = alert.get("labels")
            labels: dict[str, Any] = found if isinstance(found, dict) else {}
            if not _selected(alert, query):
                continue
            if all((labels.get(n, "") == v) == (op == "=") for n, op, v in matchers):
                answer.append(alert)
        self.send_json(200, answer)


def serve(state: AlertmanagerState) -> Loopback:
    return Loopback(AlertmanagerHandler, state)
