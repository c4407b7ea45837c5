"""A loopback stand-in for Datadog's monitors API (``GET /api/v1/monitor``).

What it serves (https://docs.datadoghq.com/api/latest/monitors/#get-all-monitor-details): a JSON
list of ``Monitor`` objects shaped as tests/fixtures/datadog/monitor.log-alert.api-client-
cassette.json (a monitor the Datadog API answered, recorded by datadog-api-client-python),
paged by ``page`` (from 0) and ``page_size``, filtered by ``monitor_tags`` (comma-separated; a
monitor must carry each). Keys go in the ``DD-API-KEY`` and ``DD-APPLICATION-KEY`` headers; a
wrong one is Datadog's 403 ``{"errors": ["Forbidden"]}``. Every answer carries the
``x-ratelimit-*`` headers the real API sends; a scripted 429 says in ``x-ratelimit-reset`` how
many seconds until the window resets.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from standins._server import Loopback, Reply, Scripted, StandInHandler, add_numbered

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "datadog"
API_KEY = "dd-standin-api-key-0123456789abcdef0123"
APP_KEY = "dd-standin-app-key-fedcba9876543210fedcba9876543210fedc"
RATE_HEADERS = {
    "x-ratelimit-limit": "500",
    "x-ratelimit-period": "10",
    "x-ratelimit-remaining": "498",
    "x-ratelimit-reset": "6",
}


def fixture_monitor() -> dict[str, Any]:
    monitor: dict[str, Any] = json.loads(
        (FIXTURES / "monitor.log-alert.api-client-cassette.json").read_text()
    )
    return monitor


def monitor(
    monitor_id: int,
    name: str,
    state: str,
    tags: list[str],
    *,
    priority: int | None = None,
    moment: datetime | None = None,
) -> dict[str, Any]:
    """The recorded monitor with its own id, name, state, tags and priority."""
    item = copy.deepcopy(fixture_monitor())
    item.update(id=monitor_id, name=name, overall_state=state, tags=tags, priority=priority)
    if moment is not None:
        stamp = moment.isoformat()
        item.update(created=stamp, modified=stamp, overall_state_modified=stamp)
    return item


def numbered_monitor(n: int, moment: datetime) -> dict[str, Any]:
    return monitor(
        48053793 + n,
        f"[Kubernetes] Pod checkout-{n} is CrashloopBackOff",
        "Alert",
        [
            "integration:kubernetes",
            "kube_cluster_name:prod-eu",
            "kube_namespace:shop",
            f"pod_name:checkout-{n}",
            "service:checkout",
            "env:prod",
        ],
        priority=2,
        moment=moment,
    )


@dataclass
class DatadogState:
    monitors: list[dict[str, Any]] = field(default_factory=list)
    api_key: str = API_KEY
    app_key: str = APP_KEY
    scripted: Scripted = field(default_factory=Scripted)
    clock: datetime = field(default_factory=lambda: datetime(2026, 11, 28, 11, 0, tzinfo=UTC))

    def add_monitors(self, count: int) -> list[dict[str, Any]]:
        first = len(self.monitors)
        self.clock = add_numbered(self.monitors, count, self.clock, numbered_monitor)
        return self.monitors[first:]


class DatadogHandler(StandInHandler):
    state: ClassVar[DatadogState]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.record()
        if (
            self.headers.get("DD-API-KEY") != self.state.api_key
            or self.headers.get("DD-APPLICATION-KEY") != self.state.app_key
        ):
            self.send_json(403, {"errors": ["Forbidden"]}, RATE_HEADERS)
            return
        if self.play_queued():
            return
        if self.path_only != "/api/v1/monitor":
            self.send_json(404, {"errors": ["Not found"]}, RATE_HEADERS)
            return
        query = self.query
        page, size = int(query.get("page", 0)), int(query.get("page_size", 100))
        wanted = [t for t in query.get("monitor_tags", "").split(",") if t]
        selected = [m for m in self.state.monitors if all(t in _tags(m) for t in wanted)]
        self.send(
            Reply(200, json.dumps(selected[page * size : (page + 1) * size]).encode(), RATE_HEADERS)
        )


def _tags(item: dict[str, Any]) -> list[Any]:
    tags = item.get("tags")
    return tags if isinstance(tags, list) else []


def serve(state: DatadogState) -> Loopback:
    return Loopback(DatadogHandler, state)
