"""How long the console's pages take with many approvals waiting.

``TARGETS`` workloads in staging each run an image with a known-exploited CVE, so each decision
is an ``approve`` that waits; one decision per target is recorded (and ``--history`` more that
are superseded). The app runs in process (Starlette's TestClient: no network, no TLS) with a
session cookie signed as the console signs it, so the numbers are the console's own work:
reading the queue (every waiting decision's approval state), rendering it, and one decision page
(the explain arithmetic, callbacks, audit head).

    python -m bench.bench_console [--targets 200] [--history 2] [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import yaml
from starlette.testclient import TestClient

from bench.decide import percentile
from clearance.model.signal import format_time, signal_from_dict
from clearance.model.target import Target
from clearance.server.app import build_context, create_app
from clearance.server.console.session import SESSION_COOKIE, Cookies
from clearance.server.settings import ServerSettings
from clearance.store.interface import Caller, Scope
from clearance.store.sql import SqlStore

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECRET = "bench-session-secret-bench-session-secret"


def write_fleet(root: Path, targets: int) -> Path:
    inventory = {
        "targets": [
            {"cluster": "prod-eu", "namespace": "stage", "workload": f"deployment/web-{i}",
             "assets": {"direct": [f"image:ghcr.io/acme/web-{i}:1.0"],
                        "host": [f"host:node-{i % 20}"]}}
            for i in range(targets)
        ]
    }  # fmt: skip
    (root / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    policy = resources.files("clearance.demo").joinpath("policy.yaml").read_text("utf-8")
    (root / "policy.yaml").write_text(policy)
    config = {
        "policy": "policy.yaml",
        "sources": [{"name": "scanner", "type": "file", "path": "signals.jsonl"}],
        "inventory": {"name": "static", "type": "static", "path": "inventory.yaml"},
    }
    (root / "signals.jsonl").write_text("")
    (root / "clearance.yaml").write_text(yaml.safe_dump(config))
    return root / "clearance.yaml"


def signals(targets: int) -> list[dict[str, object]]:
    return [
        {"uid": f"scanner:CVE-2024-3094:{i}", "source": "scanner", "kind": "known_exploited",
         "title": "CVE-2024-3094 (KEV)", "rule": "CVE-2024-3094", "severity": 2,
         "confidence": 1.0, "status": "open",
         "first_seen": format_time(NOW - timedelta(hours=1)),
         "last_seen": format_time(NOW - timedelta(minutes=5)),
         "assets": [f"image:ghcr.io/acme/web-{i}:1.0"]}
        for i in range(targets)
    ]  # fmt: skip


def timed(client: TestClient, path: str, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = client.get(path)
        out.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text[:300]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--history", type=int, default=2, help="superseded decisions per target")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_fleet(root, args.targets)
        store = SqlStore.open(f"sqlite:///{root / 'clearance.db'}")
        store.upsert_signals([signal_from_dict(s) for s in signals(args.targets)], NOW)
        store.record_source_success("scanner", NOW - timedelta(minutes=1))
        settings = ServerSettings.model_validate(
            {
                "oidc": [{"issuer": "https://login.example.com", "audience": "api"}],
                "console": {"url": "https://testserver", "issuer": "https://login.example.com",
                            "client_id": "console", "session_secret": SECRET},
            }
        )  # fmt: skip
        ctx = build_context(config, store, settings, clock=lambda: NOW)
        caller = Caller(subject="user:ci", method="token")
        last = ""
        for _ in range(args.history + 1):
            for i in range(args.targets):
                target = Target.of("staging", "prod-eu", "stage", f"deployment/web-{i}")
                last = ctx.decisions.decide(target, caller).record.decision_id
        _, cookie = Cookies(SECRET, 3600).session(
            "user:alice", "https://login.example.com", ("engineering",),
            frozenset({Scope.APPROVE}), "Alice",
        )  # fmt: skip
        with TestClient(create_app(ctx), base_url="https://testserver") as client:
            client.cookies.set(SESSION_COOKIE, cookie)
            queue_page = client.get("/console/queue").text
            assert queue_page.count("/decisions/dec_") == args.targets, "every target waits"
            queue = timed(client, "/console/queue", args.rounds)
            decision = timed(client, f"/decisions/{last}", args.rounds)
        ctx.close()
    result = {
        "python": platform.python_version(),
        "targets_waiting": args.targets,
        "decisions_recorded": args.targets * (args.history + 1),
        "queue_ms": {"p50": round(percentile(queue, 50), 1),
                     "p99": round(percentile(queue, 99), 1)},
        "decision_page_ms": {"p50": round(percentile(decision, 50), 1),
                             "p99": round(percentile(decision, 99), 1)},
    }  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
