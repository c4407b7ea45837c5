"""A real Clearance service on loopback (uvicorn in a thread) for API and CLI tests.

A small fleet (clean, medium and hot workloads in prod-eu/shop, the builders' policy), API tokens
for a cast of people, a clock the test moves, and :class:`Receiver`, a loopback HTTP endpoint that
records what it is sent (webhooks) or serves a document (a JWKS).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from builders import POLICY_YAML
from clearance.integrations.settings import IntegrationSettings
from clearance.server.app import ServerContext, build_context, create_app
from clearance.server.settings import ServerSettings
from clearance.store.interface import Scope
from clearance.store.sql import SqlStore

CAST: dict[str, tuple[Scope, ...]] = {
    "ci": (Scope.DECIDE,),
    "alice": (Scope.APPROVE, Scope.DECIDE),
    "bob": (Scope.APPROVE,),
    "carol": (Scope.APPROVE,),  # not in the security group
    "dana": (Scope.DECIDE, Scope.APPROVE),  # asks and could approve: never her own
    "root": (Scope.ADMIN,),
    "feeder": (Scope.INGEST,),
}
GROUPS = {"alice": ["security"], "bob": ["security"], "dana": ["security"]}
WORKLOADS = {"clean": "node-a", "medium": "node-b", "hot": "node-c"}


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Live:
    url: str
    ctx: ServerContext
    clock: Clock
    secrets: dict[str, str]

    def client(self, who: str | None = None, *, token: str | None = None) -> httpx.Client:
        headers = {}
        secret = token if token is not None else (self.secrets[who] if who else None)
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def push(self, *signals: dict[str, Any]) -> httpx.Response:
        # The fleet's ``edr`` is a pull source (sync owns it): only an admin may write it by
        # push, as these tests do to seed it. ``feeder`` (ingest) writes push sources only.
        with self.client("root") as c:
            return c.post("/v1/signals", json={"signals": list(signals)})

    def ask(self, workload: str, who: str = "ci", env: str = "production", **extra: Any) -> Any:
        body = {
            "environment": env,
            "cluster": "prod-eu",
            "namespace": "shop",
            "workload": f"deployment/{workload}",
            **extra,
        }
        with self.client(who) as c:
            response = c.post("/v1/decisions", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def answer(self, decision_id: str, who: str, outcome: str = "approve") -> httpx.Response:
        with self.client(who) as c:
            return c.post(
                f"/v1/decisions/{decision_id}/approvals",
                json={"outcome": outcome, "reason": f"{who} looked at it"},
            )

    def signal(self, uid: str, severity: int, workload: str, **extra: Any) -> dict[str, Any]:
        seen = self.clock.now - timedelta(minutes=10)
        data: dict[str, Any] = {
            "uid": f"edr:{uid}",
            "source": "edr",
            "kind": "detection",
            "title": f"finding {uid}",
            "severity": severity,
            "confidence": 0.9,
            "status": "open",
            "first_seen": (seen - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
            "last_seen": seen.isoformat().replace("+00:00", "Z"),
            "assets": [f"host:{WORKLOADS[workload]}"],
        }
        data.update(extra)
        return data


def write_fleet(root: Path, extra: dict[str, Any] | None = None, policy: str = POLICY_YAML) -> Path:
    (root / "policy.yaml").write_text(policy)
    inventory = {
        "targets": [
            {
                "cluster": "prod-eu",
                "namespace": "shop",
                "workload": f"deployment/{name}",
                "assets": {"direct": [f"pod:shop/{name}-1"], "host": [f"host:{host}.corp.example"]},
            }
            for name, host in WORKLOADS.items()
        ]
    }
    (root / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    (root / "edr.jsonl").write_text("")
    config = {
        "policy": "policy.yaml",
        "sources": [{"name": "edr", "type": "file", "path": "edr.jsonl"}],
        "inventory": {"name": "hosts", "type": "static", "path": "inventory.yaml"},
        **(extra or {}),
    }
    path = root / "clearance.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def serve_in_thread(app: Any) -> tuple[str, Callable[[], None]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(5)
        sock.close()

    return f"http://127.0.0.1:{port}", stop


@dataclass
class Receiver:
    """A loopback HTTP endpoint: records POSTs, serves ``document`` on GET, fails on demand."""

    url: str
    received: list[dict[str, Any]]
    document: dict[str, Any]
    fail_next: list[int]  # status codes to answer, in order, before succeeding
    arrived: threading.Event


def start_live(
    store_url: str,
    root: Path,
    config: dict[str, Any] | None = None,
    *,
    policy: str = POLICY_YAML,
    integrations: IntegrationSettings | None = None,
    **settings: Any,
) -> tuple[Live, Callable[[], None]]:
    """Start a service over ``store_url`` with the fleet written into ``root`` (``config``: more
    ``clearance.yaml`` keys; ``policy``: its text; ``integrations``: mounted when given);
    ``settings`` are server settings. Returns a stop."""
    clock = Clock()
    store = SqlStore.open(store_url)
    secrets = {
        name: store.create_token(name, scopes, clock.now)[1] for name, scopes in CAST.items()
    }
    store.record_source_success("edr", clock.now)
    merged = {"token_groups": GROUPS, **settings}
    ctx = build_context(
        write_fleet(root, config, policy), store, ServerSettings.model_validate(merged), clock
    )
    url, stop = serve_in_thread(create_app(ctx, integrations=integrations))

    def stop_all() -> None:
        stop()
        ctx.close()

    return Live(url, ctx, clock, secrets), stop_all


def start_receiver() -> tuple[Receiver, Callable[[], None]]:
    state = Receiver("", [], {}, [], threading.Event())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._send(200, state.document)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if state.fail_next:
                self._send(state.fail_next.pop(0), {"error": "try again"})
                return
            state.received.append(body)
            state.arrived.set()
            self._send(200, {"ok": True})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return state, stop
