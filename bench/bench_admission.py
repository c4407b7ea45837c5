"""Admission webhook latency over TLS on loopback, 50 concurrent API-server connections.

The service runs in its own process (the service app with the integrations mounted, uvicorn,
one worker, TLS with a trustme-generated CA), over the fleet of ``bench_http_decisions`` (50
workloads, 2,000 stored signals). Clients (asyncio + httpx, this process) trust only that CA, as
the API server trusts the webhook's ``caBundle``, and POST AdmissionReview v1 requests for a
Deployment CREATE of a round-robin workload. Two runs: every request recorded in the
hash-chained audit log (``dryRun: false``), and dry runs (decided, not recorded).
Target: p99 under 50 ms (the API server's default webhook timeout is 10 s; deploy/ sets 5 s).

    python -m bench.bench_admission [--clients 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import trustme

from bench.bench_http_decisions import WORKLOADS, _free_port, write_fleet
from bench.decide import percentile
from clearance.store.sql import SqlStore

URL = "/v1/integrations/k8s/admission"


def serve(root: Path, store_url: str, port: int) -> None:
    import uvicorn

    from clearance.integrations.settings import IntegrationSettings
    from clearance.server.app import build_context, create_app
    from clearance.server.routes.integrations import mount
    from clearance.server.settings import ServerSettings

    store = SqlStore.open(store_url)
    ctx = build_context(root / "clearance.yaml", store, ServerSettings())
    app = create_app(ctx)
    settings = {"admission": {"cluster": "prod-eu", "namespaces": {"shop": "production"}}}
    limits = {
        k: int(v)
        for k in ("concurrency", "computing")
        if (v := os.environ.get(f"BENCH_{k.upper()}"))
    }
    mount(app, ctx, IntegrationSettings.model_validate(settings), **limits)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        ssl_certfile=str(root / "tls.crt"),
        ssl_keyfile=str(root / "tls.key"),
    )


def review(i: int, dry_run: bool) -> dict[str, Any]:
    name = f"app-{i % WORKLOADS}"
    pod = {"containers": [{"name": "app", "image": f"ghcr.io/acme/{name}:1.0"}]}
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": pod}},
    }
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": name,
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": f"deployer-{i % 7}"},
            "object": obj,
            "oldObject": None,
            "dryRun": dry_run,
        },
    }


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes
) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 POST of an AdmissionReview; returns the status and the body.

    A minimal client on purpose, as in ``bench_http_decisions``: httpx's async pool scans every
    connection on each request (anyio ``extra`` lookups per connection), so at 50 connections
    it spent a whole core for ~70 requests/s here and measured itself, not the webhook.
    """
    writer.write(
        f"POST {URL} HTTP/1.1\r\nHost: clearance.clearance.svc\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _load(
    port: int, context: ssl.SSLContext, clients: int, seconds: float, dry_run: bool
) -> tuple[list[float], Counter[str]]:
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        # One TLS connection per client, kept alive, as each API server connection is.
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="clearance.clearance.svc"
        )
        i = n
        while time.perf_counter() < deadline:
            body = review(i, dry_run)
            started = time.perf_counter()
            status, raw = await _exchange(reader, writer, json.dumps(body).encode())
            latencies.append(time.perf_counter() - started)
            response = json.loads(raw).get("response", {}) if status == 200 else {}
            if response.get("uid") == body["request"]["uid"]:
                outcomes["allowed" if response["allowed"] else "denied"] += 1
            else:
                outcomes[f"http {status}"] += 1
            i += clients
        writer.close()

    await asyncio.gather(*(worker(n) for n in range(clients)))
    return latencies, outcomes


def run(clients: int, seconds: float) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    results = []
    with tempfile.TemporaryDirectory(prefix="clearance-bench-admission-") as tmp:
        root = Path(tmp)
        signals = write_fleet(root, now)
        ca = trustme.CA()
        cert = ca.issue_cert("clearance.clearance.svc", "127.0.0.1")
        cert.cert_chain_pems[0].write_to_path(str(root / "tls.crt"))
        cert.private_key_pem.write_to_path(str(root / "tls.key"))
        context = ssl.create_default_context()
        ca.configure_trust(context)
        store_url = f"sqlite:///{root / 'clearance.db'}"
        store = SqlStore.open(store_url)
        from clearance.model.signal import signal_from_dict

        store.upsert_signals([signal_from_dict(s) for s in signals], now)
        store.record_source_success("edr", now)
        store.close()
        port = _free_port()
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_admission", "--serve", str(root), store_url,
             str(port)],
            env=dict(os.environ),
        )  # fmt: skip
        base = f"https://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(base + "/readyz", verify=context).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            for dry_run in (False, True):
                asyncio.run(_load(port, context, clients, 1.0, dry_run))  # warm up
                started, cpu = time.perf_counter(), _cpu_seconds(child.pid)
                latencies, outcomes = asyncio.run(_load(port, context, clients, seconds, dry_run))
                elapsed = time.perf_counter() - started
                result = _summary(latencies, outcomes, elapsed, clients, dry_run)
                used = _cpu_seconds(child.pid)
                if used is not None and cpu is not None and latencies:
                    # The service's own CPU per answer: comparable across runs even when other
                    # work shares the cores (latency and throughput are not).
                    result["service_cpu_ms"] = round(1000 * (used - cpu) / len(latencies), 2)
                results.append(result)
        finally:
            child.terminate()
            child.wait(10)
    return results


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(
    latencies: list[float], outcomes: Counter[str], elapsed: float, clients: int, dry_run: bool
) -> dict[str, Any]:
    ms = sorted(x * 1000 for x in latencies)
    return {
        "mode": "dry-run (not recorded)" if dry_run else "recorded",
        "clients": clients,
        "requests": len(ms),
        "per_second": round(len(ms) / elapsed, 1),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(ms[-1], 2),
        "outcomes": dict(outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", nargs=3, metavar=("ROOT", "STORE_URL", "PORT"))
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), args.serve[1], int(args.serve[2]))
        return
    print(f"# admission webhook over TLS — {platform.python_version()}, {os.cpu_count()} CPUs")
    for result in run(args.clients, args.seconds):
        print(json.dumps(result))


if __name__ == "__main__":
    main()
