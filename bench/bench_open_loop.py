"""Open-loop load against a real ``clearance serve``: requests sent at a fixed rate whatever the
answers, latency from each request's *scheduled* time.

Closed-loop clients (``bench_http_decisions``, ``bench_admission``) wait for an answer before
they ask again, so an overloaded service slows its own load down and the queue it builds never
shows (coordinated omission). Here request ``i`` of a step is due at ``start + i / rate``; it
goes out on any idle keep-alive connection (a new one is opened when none is idle, as a fleet
of pipelines or an API server would), and its latency counts from when it was due, so time
spent waiting for the client to catch up is counted too.

Two targets, each a ladder of offered rates:

* ``decisions``: ``POST /v1/decisions`` over HTTP, each with a distinct commit (a new record),
  sent with ``X-Clearance-Timeout`` (the client's own patience, ``--timeout``);
* ``admission``: the admission webhook over TLS (a generated CA the client alone trusts),
  AdmissionReview v1 Deployment CREATEs sent to ``…/k8s/admission?timeout=5s`` as the API
  server sends them, with its ``timeoutSeconds``.

A client gives up on a request at its timeout (as the API server does), and closes that
connection. For each step it reports the answers received (by kind), p50/p99/max latency of the
accepted ones, 429s and stance answers, requests given up, and the service process's own CPU
per answer (``/proc``; the figure that holds when other work shares the machine). At the end:
records in the log against answers received (every accepted answer recorded; anything recorded
that no client received is counted), and ``clearance audit verify`` on the database.

``--baseline DIR`` runs the same ladder against the source tree in DIR (its ``src`` first on
``PYTHONPATH``; e.g. ``git archive main src | tar -x -C DIR``) in the same run, before this one.

``--server-cpus`` / ``--client-cpus`` pin the service (and its workers) and the load generator
to disjoint CPUs (``0`` and ``1`` on two cores): on a shared machine the generator's own work
(TLS handshakes, the event loop) otherwise takes the service's CPU exactly when load is high,
and capacity measured that way is partly the generator's.

    python -m bench.bench_open_loop [--rates 50,100,200,400] [--seconds 10]
        [--targets decisions,admission] [--baseline /tmp/main-tree] [--timeout 5] [--workers 1]
        [--server-cpus 0 --client-cpus 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import trustme
import yaml

from bench.bench_admission import _cpu_seconds
from bench.bench_http_decisions import WORKLOADS, _free_port, write_fleet
from bench.decide import percentile
from clearance.store.interface import Scope
from clearance.store.sql import SqlStore

ADMISSION = "/v1/integrations/k8s/admission"
HOST = "clearance.clearance.svc"
MAX_CONNECTIONS = 2000  # open requests at once (fds: keep under ulimit -n)
ANSWERS = ("decided", "stance (not decided)")


@dataclass
class Step:
    target: str
    rate: float
    seconds: float
    latencies: list[float] = field(default_factory=list)  # accepted answers, from due time
    outcomes: Counter[str] = field(default_factory=Counter)
    lag: float = 0.0  # the latest a request left after it was due (the client falling behind)
    recorded_ids: set[str] = field(default_factory=set)

    def summary(self, cpu: float | None) -> dict[str, Any]:
        ms = sorted(x * 1000 for x in self.latencies)
        answered = sum(v for k, v in self.outcomes.items() if k in ANSWERS or k.isdigit())
        return {
            "target": self.target,
            "offered_per_s": self.rate,
            "sent": sum(self.outcomes.values()),
            "accepted_per_s": round(len(ms) / self.seconds, 1),
            "p50_ms": round(percentile(ms, 50), 1) if ms else None,
            "p99_ms": round(percentile(ms, 99), 1) if ms else None,
            "max_ms": round(ms[-1], 1) if ms else None,
            "outcomes": dict(self.outcomes),
            "client_lag_ms": round(self.lag * 1000, 1),
            "service_cpu_ms_per_answer": round(1000 * cpu / answered, 2)
            if cpu is not None and answered
            else None,
        }


class Connections:
    """Idle keep-alive connections; a new one when none is idle."""

    def __init__(self, port: int, tls: ssl.SSLContext | None) -> None:
        self.port, self.tls = port, tls
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle:
            return self.idle.pop()
        self.open += 1
        if self.tls is None:
            return await asyncio.open_connection("127.0.0.1", self.port)
        return await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.tls, server_hostname=HOST
        )

    def give(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.append(conn)

    def drop(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.open -= 1
        conn[1].close()

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def _exchange(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], head: bytes, body: bytes
) -> tuple[int, bytes]:
    reader, writer = conn
    writer.write(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    first = await reader.readline()
    if not first:  # the server closed the connection without answering this request
        raise ConnectionResetError("closed before answering")
    status = int(first.split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def _decision_body(i: int) -> bytes:
    return json.dumps(
        {
            "environment": "production",
            "cluster": "prod-eu",
            "namespace": "shop",
            "workload": f"deployment/app-{i % WORKLOADS}",
            "change": {"commit": secrets.token_hex(20), "actor": f"dev{i % 7}"},
        }
    ).encode()


def _review(i: int) -> tuple[str, bytes]:
    name = f"app-{i % WORKLOADS}"
    pod = {"containers": [{"name": "app", "image": f"ghcr.io/acme/{name}:1.0"}]}
    uid = str(uuid.uuid4())
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": name,
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": f"deployer-{i % 7}"},
            "object": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": pod}},
            },
            "oldObject": None,
            "dryRun": False,
        },
    }
    return uid, json.dumps(review).encode()


async def _one(
    step: Step, pool: Connections, due: float, i: int, token: str, timeout: float
) -> None:
    if step.target == "decisions":
        head = (
            "POST /v1/decisions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nX-Clearance-Timeout: {timeout:g}\r\n"
        ).encode()
        uid, body = "", _decision_body(i)
    else:
        head = (
            f"POST {ADMISSION}?timeout={timeout:g}s HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n"
        ).encode()
        uid, body = _review(i)
    step.lag = max(step.lag, time.perf_counter() - due)
    conn = None
    try:
        async with asyncio.timeout(max(due + timeout - time.perf_counter(), 0.001)):
            conn = await pool.take()
            status, raw = await _exchange(conn, head, body)
    except TimeoutError:
        step.outcomes["gave up"] += 1
        if conn is not None:
            pool.drop(conn)
        return
    except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
        step.outcomes[f"failed ({type(exc).__name__})"] += 1
        if conn is not None:
            pool.drop(conn)
        return
    done = time.perf_counter()
    pool.give(conn)
    if step.target == "decisions":
        if status == 200:
            step.latencies.append(done - due)
            step.outcomes["200"] += 1
            step.recorded_ids.add(json.loads(raw)["id"])
        else:
            step.outcomes[str(status)] += 1
        return
    response = json.loads(raw).get("response", {}) if status == 200 else {}
    decision_id = (response.get("auditAnnotations") or {}).get("decision-id")
    if response.get("uid") == uid and decision_id:
        step.latencies.append(done - due)
        step.outcomes["decided"] += 1
        step.recorded_ids.add(decision_id)
    elif response.get("uid") == uid:
        step.outcomes["stance (not decided)"] += 1
    else:
        step.outcomes[f"http {status}"] += 1


async def _run_step(
    step: Step, port: int, tls: ssl.SSLContext | None, token: str, timeout: float
) -> None:
    pool = Connections(port, tls)
    tasks: set[asyncio.Task[None]] = set()
    total = int(step.rate * step.seconds)
    start = time.perf_counter() + 0.05
    for i in range(total):
        due = start + i / step.rate
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        if pool.open >= MAX_CONNECTIONS and not pool.idle:
            step.outcomes["no connection"] += 1  # the client's own limit: not sent
            continue
        task = asyncio.create_task(_one(step, pool, due, i, token, timeout))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    pool.close()


def _loop(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


@dataclass
class Service:
    root: Path
    store_url: str
    port: int
    token: str
    tls: ssl.SSLContext
    child: subprocess.Popen[bytes]


def _prepare(root: Path) -> tuple[str, str, ssl.SSLContext]:
    now = datetime.now(UTC)
    signals = write_fleet(root, now)
    ca = trustme.CA()
    cert = ca.issue_cert(HOST, "127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(root / "tls.crt"))
    cert.private_key_pem.write_to_path(str(root / "tls.key"))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    integrations = {"admission": {"cluster": "prod-eu", "namespaces": {"shop": "production"}}}
    (root / "integrations.yaml").write_text(yaml.safe_dump(integrations))
    store_url = f"sqlite:///{root / 'clearance.db'}"
    store = SqlStore.open(store_url)
    from clearance.model.signal import signal_from_dict

    store.upsert_signals([signal_from_dict(s) for s in signals], now)
    store.record_source_success("edr", now)
    _, token = store.create_token(f"bench-{secrets.token_hex(3)}", [Scope.DECIDE], now)
    store.close()
    return store_url, token, context


def _tree_cpu(pid: int) -> float | None:
    """CPU seconds of ``pid`` and its live children (``serve --workers N`` runs N of them)."""
    total = _cpu_seconds(pid)
    if total is None:
        return None
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(_tree_cpu(int(child)) or 0.0 for child in children)


def _cpus(spec: str | None) -> set[int] | None:
    return None if spec is None else {int(c) for c in spec.split(",")}


def _start(
    root: Path,
    store_url: str,
    tree: Path | None,
    tls: bool,
    workers: int,
    cpus: set[int] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), env.get("PYTHONPATH", "")])
    https = ["--tls-cert", str(root / "tls.crt"), "--tls-key", str(root / "tls.key")]
    settings = root / "settings.yaml"
    more = ["--settings", str(settings)] if settings.exists() else []
    # Pinned before it runs a line (util-linux's taskset), so the workers it starts inherit it.
    pin = [] if cpus is None else ["taskset", "--cpu-list", ",".join(map(str, sorted(cpus)))]
    child = subprocess.Popen(
        [*pin, sys.executable, "-m", "clearance", "serve", "--config", str(root / "clearance.yaml"),
         "--database", store_url, "--integrations", str(root / "integrations.yaml"),
         "--port", str(port), "--no-sync", "--workers", str(workers),
         *(https if tls else []), *more],
        env=env,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return child, port


def run(
    tree: Path | None,
    label: str,
    rates: list[float],
    seconds: float,
    targets: list[str],
    timeout: float,
    settings: dict[str, Any],
    workers: int = 1,
    server_cpus: set[int] | None = None,
) -> dict[str, Any]:
    """Each target against its own ``clearance serve`` (HTTP for the API, HTTPS for the
    webhook) over one database, then the log checked against the answers received."""
    steps: list[dict[str, Any]] = []
    received: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="clearance-open-loop-") as tmp:
        root = Path(tmp)
        store_url, token, tls = _prepare(root)
        if settings:
            (root / "settings.yaml").write_text(yaml.safe_dump({"server": settings}))
        for target in targets:
            secure = target == "admission"
            child, port = _start(root, store_url, tree, secure, workers, server_cpus)
            context = tls if secure else None
            try:
                base = f"{'https' if secure else 'http'}://127.0.0.1:{port}"
                for _ in range(400):
                    with contextlib.suppress(httpx.HTTPError):
                        if httpx.get(base + "/readyz", verify=tls).status_code == 200:
                            break
                    time.sleep(0.05)
                warm = Step(target, 50, 1.0)
                _loop(_run_step(warm, port, context, token, timeout))
                received |= warm.recorded_ids
                for rate in rates:
                    step = Step(target, rate, seconds)
                    load = os.getloadavg()[0]
                    cpu = _tree_cpu(child.pid)
                    _loop(_run_step(step, port, context, token, timeout))
                    used = _tree_cpu(child.pid)
                    spent = None if cpu is None or used is None else used - cpu
                    result = step.summary(spent) | {"load_average_1m": round(load, 2)}
                    steps.append(result)
                    received |= step.recorded_ids
                    print(json.dumps({"tree": label} | result), flush=True)
                    time.sleep(1.0)  # let a backlog drain before the next step
            finally:
                child.terminate()
                child.wait(30)
        store = SqlStore.open(store_url, migrate=False)
        ids = {r.decision_id for r in store.iter_records()}
        store.close()
        env = dict(os.environ)
        if tree is not None:
            env["PYTHONPATH"] = str(tree / "src")
        verify = subprocess.run(
            [sys.executable, "-m", "clearance", "audit", "verify", "--database", store_url],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    return {
        "tree": label,
        "steps": steps,
        "records": len(ids),
        "answers_received": len(received),
        "every_accepted_answer_recorded": received <= ids,
        "recorded_but_never_received": len(ids - received),
        "audit_verify_ok": verify.returncode == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rates", default="50,100,200,400")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--targets", default="decisions,admission")
    parser.add_argument("--timeout", type=float, default=5.0, help="the clients' patience, s")
    parser.add_argument("--baseline", type=Path, help="a source tree to measure first")
    parser.add_argument("--in-flight", type=int, help="server.max_in_flight (default: its own)")
    parser.add_argument("--queue-wait", type=float, help="server.queue_wait (default: its own)")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers (default 1)")
    parser.add_argument("--server-cpus", help="CPUs for the service, e.g. 0 (default: any)")
    parser.add_argument("--client-cpus", help="CPUs for the load generator, e.g. 1")
    parser.add_argument("--label", default="this tree", help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings: dict[str, Any] = {}
    if args.in_flight is not None:
        settings["max_in_flight"] = args.in_flight
    if args.queue_wait is not None:
        settings["queue_wait"] = args.queue_wait
    rates = [float(r) for r in args.rates.split(",")]
    client_cpus = _cpus(args.client_cpus)
    if client_cpus is not None:
        os.sched_setaffinity(0, client_cpus)
    targets = args.targets.split(",")
    print(
        f"# open loop — {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        flush=True,
    )
    if args.baseline is not None:
        # The baseline runs whole in a child with its tree first on the path, so its database
        # is prepared (and migrated) by the code that serves it.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(args.baseline / "src"), str(Path(__file__).parents[1])]
        )
        again = [a for a in sys.argv[1:] if a != "--baseline" and a != str(args.baseline)]
        subprocess.run(
            [sys.executable, "-m", "bench.bench_open_loop", *again, "--label", "baseline"],
            env=env,
            check=True,
        )
    runs = [
        run(
            None,
            args.label,
            rates,
            args.seconds,
            targets,
            args.timeout,
            settings,
            args.workers,
            _cpus(args.server_cpus),
        )
    ]
    for result in runs:
        print(json.dumps({k: v for k, v in result.items() if k != "steps"}))


if __name__ == "__main__":
    main()
