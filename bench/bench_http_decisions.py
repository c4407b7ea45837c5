"""Decisions per second over HTTP on loopback, 32 concurrent clients, each durably recorded.

The service runs in its own processes (``clearance serve --workers 2``: uvicorn, two worker
processes sharing the database and its one hash chain; ``BENCH_WORKERS=1`` for one), over a
fleet of 50 workloads whose hosts carry 2,000 stored signals (about 8 touch each workload). The
clients (asyncio keep-alive connections speaking minimal HTTP/1.1, in this process) each ask
``POST /v1/decisions`` for a round-robin
target with a distinct commit, so every answer is a new record in the hash-chained log. At the
end the log is counted and verified: every 200 must be a committed record.

The same run with the audit append disabled gives the cost of durability as a ratio. That mode
exists only here: the ``--serve`` child reads ``CLEARANCE_BENCH_NO_AUDIT`` and passes
``_audit=False`` to ``build_context``; no configuration or flag of ``clearance serve`` reaches it.

Closed-loop clients: by Little's law the mean latency is clients ÷ throughput, so at 32 clients
latency is mostly queueing; ``--clients 1`` shows the latency of one decision alone.

    python -m bench.bench_http_decisions [--clients 32] [--seconds 10]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.decide import percentile
from clearance.store.interface import Scope
from clearance.store.sql import SqlStore

NO_AUDIT_ENV = "CLEARANCE_BENCH_NO_AUDIT"
WORKLOADS = 50
HOSTS = 1000
SIGNALS = 2000


def write_fleet(root: Path, now: datetime) -> list[dict[str, Any]]:
    """Write clearance.yaml, inventory and policy; return the signals to store."""
    policy = (Path(__file__).parent / "policy.yaml").read_text()
    (root / "policy.yaml").write_text(policy)
    targets = []
    for w in range(WORKLOADS):
        hosts = [f"host:node-{(w * 4 + k) % HOSTS}.corp.example" for k in range(4)]
        targets.append(
            {
                "cluster": "prod-eu",
                "namespace": "shop",
                "workload": f"deployment/app-{w}",
                "assets": {
                    "direct": [f"pod:shop/app-{w}-1", f"image:ghcr.io/acme/app-{w}:1.0"],
                    "host": hosts,
                },
            }
        )
    (root / "inventory.yaml").write_text(yaml.safe_dump({"targets": targets}))
    (root / "edr.jsonl").write_text("")
    config = {
        "policy": "policy.yaml",
        "sources": [{"name": "edr", "type": "file", "path": "edr.jsonl"}],
        "inventory": {"name": "fleet", "type": "static", "path": "inventory.yaml"},
    }
    (root / "clearance.yaml").write_text(yaml.safe_dump(config))
    seen = now - timedelta(minutes=30)
    return [
        {
            "uid": f"edr:{i}",
            "source": "edr",
            "kind": "detection",
            "title": f"finding {i}",
            "confidence": 0.3 if i % 4 else 0.5,
            "severity": 1 + i % 4,  # informational..high: a mix of verdicts
            "status": "open",
            "first_seen": (seen - timedelta(hours=1)).isoformat(),
            "last_seen": seen.isoformat(),
            "assets": [f"host:node-{i % HOSTS}"],
        }
        for i in range(SIGNALS)
    ]


def app_factory() -> Any:
    """One worker's app (uvicorn calls this in each worker process)."""
    from clearance.server.app import build_context, create_app
    from clearance.server.settings import ServerSettings

    store = SqlStore.open(os.environ["BENCH_DATABASE"], migrate=False)
    audit = os.environ.get(NO_AUDIT_ENV) != "1"
    settings = ServerSettings(max_in_flight=int(os.environ.get("BENCH_IN_FLIGHT", "64")))
    root = Path(os.environ["BENCH_ROOT"])
    ctx = build_context(root / "clearance.yaml", store, settings, _audit=audit)
    return create_app(ctx)


def serve(root: Path, url: str, port: int) -> None:
    """The child process: the service, with the audit append on unless the bench env says off."""
    import uvicorn

    os.environ["BENCH_ROOT"], os.environ["BENCH_DATABASE"] = str(root), url
    uvicorn.run(
        "bench.bench_http_decisions:app_factory",
        factory=True,
        workers=int(os.environ.get("BENCH_WORKERS", "2")),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes, token: str
) -> int:
    """One keep-alive HTTP/1.1 POST /v1/decisions; returns the status once the body is read.

    A minimal client on purpose: httpx's async client tops out near 330 requests/s on this
    machine against a trivial endpoint (uvicorn answers 3,000+/s to this one), so measuring
    through it would measure the client.
    """
    writer.write(
        b"POST /v1/decisions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _load(
    port: int, token: str, clients: int, seconds: float
) -> tuple[list[float], Counter[int]]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = n
        while time.perf_counter() < deadline:
            body = {
                "environment": "production",
                "cluster": "prod-eu",
                "namespace": "shop",
                "workload": f"deployment/app-{i % WORKLOADS}",
                "change": {"commit": secrets.token_hex(20), "actor": f"dev{n}"},
            }
            started = time.perf_counter()
            status = await _exchange(reader, writer, json.dumps(body).encode(), token)
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
            i += clients
        writer.close()

    await asyncio.gather(*(worker(n) for n in range(clients)))
    return latencies, statuses


def run_one(url: str, clients: int, seconds: float, audit: bool) -> dict[str, Any]:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="clearance-bench-") as tmp:
        root = Path(tmp)
        store_url = url.replace("{tmp}", tmp)
        signals = write_fleet(root, now)
        store = SqlStore.open(store_url)
        from clearance.model.signal import signal_from_dict

        store.upsert_signals([signal_from_dict(s) for s in signals], now)
        store.record_source_success("edr", now)
        _, token = store.create_token(f"bench-{secrets.token_hex(3)}", [Scope.DECIDE], now)
        store.close()
        port = _free_port()
        env = dict(os.environ)
        env.pop(NO_AUDIT_ENV, None)
        if not audit:
            env[NO_AUDIT_ENV] = "1"
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_http_decisions", "--serve", str(root), store_url,
             str(port)],
            env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(base + "/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            asyncio.run(_load(port, token, clients, 1.0))  # warm up
            counter = SqlStore.open(store_url, migrate=False)
            before = _count(counter)
            counter.close()
            started = time.perf_counter()
            latencies, statuses = asyncio.run(_load(port, token, clients, seconds))
            elapsed = time.perf_counter() - started
            server_ms = _server_mean_ms(base)
        finally:
            child.terminate()
            child.wait(10)
        store = SqlStore.open(store_url)
        recorded = _count(store) - before
        from clearance.audit.verify import verify

        intact = verify(store).ok
        store.close()
    ok = statuses.get(200, 0)
    return {
        "audit": audit,
        "requests": sum(statuses.values()),
        "ok": ok,
        "statuses": dict(statuses),
        "per_second": ok / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "server_mean_ms": server_ms,
        "recorded": recorded,
        "every_answer_recorded": (recorded == ok) if audit else None,
        "chain_intact": intact,
    }


def _server_mean_ms(base: str) -> float:
    """Mean time inside the service per decision (the latency histogram of whichever worker
    answers the scrape, warm-up included)."""
    total = count = 0.0
    for line in httpx.get(base + "/metrics").text.splitlines():
        if 'route="/v1/decisions"' in line and 'method="POST"' in line and 'status="200"' in line:
            if line.startswith("clearance_http_request_duration_seconds_sum"):
                total = float(line.rsplit(" ", 1)[1])
            elif line.startswith("clearance_http_request_duration_seconds_count"):
                count = float(line.rsplit(" ", 1)[1])
    return 1000 * total / count if count else float("nan")


def _count(store: SqlStore) -> int:
    return sum(1 for _ in store.iter_records())


def _postgres(base: str) -> tuple[str, str]:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"clearance_bench_{secrets.token_hex(4)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False), admin


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--postgres", default=os.environ.get("CLEARANCE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, {args.clients} clients, "
          f"{args.seconds:g}s per run")  # fmt: skip
    databases = [("sqlite", "sqlite:///{tmp}/bench.db")]
    admin = None
    if args.postgres:
        pg_url, admin = _postgres(args.postgres)
        databases.append(("postgresql", pg_url))
    try:
        for name, url in databases:
            durable = run_one(url, args.clients, args.seconds, audit=True)
            if name == "postgresql":  # the second run needs the same, emptied database
                pass
            bare = run_one(url, args.clients, args.seconds, audit=False)
            for result in (durable, bare):
                mode = "recorded" if result["audit"] else "no audit (bench-only)"
                print(
                    f"{name:10} {mode:22} {result['per_second']:7.0f} decisions/s  "
                    f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
                    f"in-service mean {result['server_mean_ms']:5.1f} ms  "
                    f"statuses {result['statuses']}  recorded {result['recorded']}  "
                    f"chain {'ok' if result['chain_intact'] else 'BROKEN'}"
                )
            print(
                f"{name:10} cost of durability: {bare['per_second'] / durable['per_second']:.2f}x "
                "throughput without the audit append"
            )
            print(json.dumps({"database": name, "durable": durable, "no_audit": bare}))
    finally:
        if admin is not None:
            import psycopg

            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_url.rsplit("/", 1)[1]}" WITH (FORCE)')


if __name__ == "__main__":
    main()
