"""A real decision path for the integration routes: files → snapshot → engine → SQLite audit log.

The scenario (one cluster ``prod-eu``; namespaces map to environments):

    shop/deployment/checkout   production   block    critical EDR detection on its node
    stage/deployment/web       staging      approve  known-exploited CVE in its image
    shop/deployment/ledger     production   proceed  nothing touches it
    dev/<anything>             development  proceed  unknown target: degraded (a stance fired)

``EngineDecider`` is the integrations' Decider over the real engine and store (no approvals:
the service's approval flow is tested there); ``serve`` runs an app on loopback with uvicorn,
over TLS when given a certificate.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import trustme
import uvicorn
import yaml
from fastapi import FastAPI

from builders import live_snapshot
from clearance.config import load_config
from clearance.engine import decide
from clearance.errors import CallerError, ClearanceError
from clearance.integrations.interface import Answer
from clearance.integrations.metrics import IntegrationMetrics
from clearance.model.signal import format_time
from clearance.model.target import Target
from clearance.policy.load import load_policy
from clearance.server.mtls import ClientCertProtocol
from clearance.server.routes.integrations import IntegrationDeps, integration_router
from clearance.store.interface import Caller, Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TOKEN = "integration-test-token"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def write_scenario(directory: Path) -> Path:
    def signal(uid: str, kind: str, title: str, severity: int, asset: str) -> dict[str, Any]:
        return {
            "uid": f"edr:{uid}",
            "source": "edr",
            "kind": kind,
            "title": title,
            "rule": title,
            "severity": severity,
            "confidence": 1.0,
            "status": "open",
            "first_seen": format_time(NOW - timedelta(minutes=30)),
            "last_seen": format_time(NOW - timedelta(minutes=10)),
            "assets": [asset],
            "url": f"https://edr.example/detections/{uid}",
        }

    signals = [
        signal("d1", "detection", "Credential dumping on node-a", 5, "host:node-a"),
        signal("v1", "known_exploited", "CVE-2024-3094 (KEV)", 4, "image:ghcr.io/acme/web:2.0"),
    ]
    path = directory / "signals.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in signals), encoding="utf-8")
    fresh = (NOW - timedelta(minutes=1)).timestamp()
    os.utime(path, (fresh, fresh))  # the file source's data is as old as the file

    def entry(ns: str, workload: str, image: str, node: str) -> dict[str, Any]:
        assets = {"direct": [f"image:{image}"], "host": [f"host:{node}"]}
        return {"cluster": "prod-eu", "namespace": ns, "workload": workload, "assets": assets}

    inventory = {
        "targets": [
            entry("shop", "deployment/checkout", "ghcr.io/acme/checkout:1.0", "node-a"),
            entry("stage", "deployment/web", "ghcr.io/acme/web:2.0", "node-b"),
            entry("shop", "deployment/ledger", "ghcr.io/acme/ledger:1.0", "node-c"),
        ]
    }
    (directory / "inventory.yaml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    policy = resources.files("clearance.demo").joinpath("policy.yaml").read_text("utf-8")
    (directory / "policy.yaml").write_text(policy, encoding="utf-8")
    config = {
        "policy": "policy.yaml",
        "sources": [{"name": "edr", "type": "file", "path": "signals.jsonl"}],
        "inventory": {"name": "static", "type": "static", "path": "inventory.yaml"},
    }
    (directory / "clearance.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return directory / "clearance.yaml"


@dataclass
class EngineDecider:
    """The real engine over the scenario files, recording into a real store."""

    config_path: Path
    store: Store
    now: datetime = NOW
    calls: list[tuple[Target, Caller, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = load_config(self.config_path)
        self.policy = load_policy(self.config.policy_path)

    def decide(
        self,
        target: Target,
        caller: Caller,
        *,
        record: bool = True,
        manifest: Mapping[str, Any] | None = None,
        deadline: Callable[[str], object] | None = None,
    ) -> Answer:
        self.calls.append((target, caller, record))
        if deadline is not None:
            deadline("the decision was computed")
        self.policy.environment(target.environment)
        snapshot = live_snapshot(self.config, target, self.now)
        decision = decide(target, snapshot, self.policy, self.now)
        if record:
            self.store.append_decision(decision, snapshot, caller, self.now)
        return Answer.unapproved(decision, recorded=record)


class FailingDecider:
    """A decider whose store is down: every decision fails the way the service's would."""

    def decide(self, target: Target, caller: Caller, **_: Any) -> Answer:
        raise ClearanceError("the store is unavailable (test)")


class BrokenDecider:
    """A decider that fails as a bug would (not a ClearanceError): the integrations must still
    answer, in their fail-closed form."""

    def decide(self, target: Target, caller: Caller, **_: Any) -> Answer:
        raise RuntimeError("canonical JSON cannot encode 2**64 (test)")


def authenticate(header: str | None) -> Caller:
    if header != f"Bearer {TOKEN}":
        raise CallerError("no valid credential (send Authorization: Bearer <token>)")
    return Caller(subject="token:pipeline", method="token", token_id="tok-1")


@contextmanager
def serve(
    app: FastAPI,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    *,
    client_ca: Path | None = None,
) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yield its base URL.
    With ``client_ca``, client certificates are verified against it and reported to the app
    as ``clearance serve --tls-client-ca`` does."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        ssl_cert_reqs=ssl.CERT_OPTIONAL if client_ca else ssl.CERT_NONE,
        ssl_ca_certs=str(client_ca) if client_ca else None,
        http=ClientCertProtocol if client_ca else "auto",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    scheme = "https" if certfile else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@dataclass
class AppUnderTest:
    app: FastAPI
    deps: IntegrationDeps
    metrics: IntegrationMetrics


def build_app(deps: IntegrationDeps) -> FastAPI:
    app = FastAPI()
    app.include_router(integration_router(deps))
    return app


@dataclass
class Tls:
    ca: trustme.CA
    cert: Path
    key: Path
    ca_pem: Path
    client: Path | None = None  # the API server's client certificate and key (CN kube-apiserver)

    def context(self, *, present: bool = True) -> ssl.SSLContext:
        """A client context trusting only the generated CA (as the API server's caBundle),
        presenting the API server's client certificate unless ``present`` is False."""
        context = ssl.create_default_context(cafile=str(self.ca_pem))
        if present and self.client is not None:
            context.load_cert_chain(str(self.client))
        return context


def service_context(scenario: Path, store: Store, oidc: list[dict[str, Any]] | None = None) -> Any:
    """The real service (DecisionService, approvals, auth) over the scenario, at ``NOW``.

    The service reads signals and source health from the store (as ``clearance sync`` leaves
    them), so the scenario's signals are upserted and the source marked fresh.
    """
    from clearance.model.signal import signal_from_dict
    from clearance.server.app import build_context
    from clearance.server.settings import ServerSettings

    lines = (scenario / "signals.jsonl").read_text().splitlines()
    store.upsert_signals([signal_from_dict(json.loads(line)) for line in lines], NOW)
    store.record_source_success("edr", NOW - timedelta(minutes=1))
    settings = ServerSettings.model_validate({"oidc": oidc or []})
    return build_context(scenario / "clearance.yaml", store, settings, clock=lambda: NOW)  # type: ignore[arg-type]
