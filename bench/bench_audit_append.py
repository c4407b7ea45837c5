"""Durable audit appends per second with 32 threads, on SQLite and PostgreSQL.

Each thread appends real decisions (the decide benchmark's target: 200 exposed assets, 25
matched signals, so each record carries a realistic snapshot) through
``Store.append_decision``, which returns only after the record is committed (SQLite in WAL mode
with ``synchronous=FULL``; PostgreSQL with its default ``synchronous_commit=on``). Decisions are
made before the clock starts: this measures the log, not the engine. At the end the chain is
verified, so a fast but forked log cannot pass.

Besides appends per second and latency it prints the process's CPU time per append (user +
system, from ``os.times``): on a shared machine that is the steadier number, and it is what an
append costs the service beside it.

    python -m bench.bench_audit_append [--threads 32] [--records 4000] [--assets 200]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]

PostgreSQL runs when ``--postgres`` or ``CLEARANCE_TEST_POSTGRES_URL`` names a server; a fresh
database is created beside the one named and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import msgspec

from bench.decide import NOW, exposure_of_200, load_policy, percentile, touching_signals
from clearance.audit.verify import verify
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import ChangeInfo, Decision, Snapshot, SourceHealth, Target, canonical_json
from clearance.store.interface import Caller
from clearance.store.sql import SqlStore


def samples(n: int, assets: int = 200) -> tuple[list[tuple[Decision, Snapshot]], bytes]:
    policy = load_policy()
    base = Target.of("production", "prod-eu", "shop", "deployment/api")
    index = SignalIndex(touching_signals())
    out = []
    for i in range(n):
        target = msgspec.structs.replace(
            base, change=ChangeInfo(commit=f"{i:040x}", actor=f"dev{i % 50}")
        )
        full = exposure_of_200(base)
        exposure = replace(full, target=target, assets=full.assets[:assets])
        snapshot = Snapshot(
            exposure=exposure,
            matches=index.match(exposure),
            sources=(SourceHealth("edr", NOW - timedelta(minutes=2)),),
        )
        out.append((decide(target, snapshot, policy, NOW + timedelta(milliseconds=i)), snapshot))
    text = (Path(__file__).parent / "policy.yaml").read_bytes()
    return out, text


def run(url: str, work: list[tuple[Decision, Snapshot]], policy: bytes, threads: int) -> str:
    store = SqlStore.open(url)
    store.put_policy(work[0][0].policy_digest, policy, NOW)
    latencies: list[float] = []
    lock = threading.Lock()
    caller = Caller("bench", "token", token_id="tok_bench")

    def worker(part: int) -> None:
        mine: list[float] = []
        for decision, snapshot in work[part::threads]:
            start = time.perf_counter()
            store.append_decision(decision, snapshot, caller, decision.at)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(p,)) for p in range(threads)]
    cpu_before = os.times()
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu_after = os.times()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    result = verify(store)
    decisions = sum(1 for _ in store.iter_records())  # the log may hold other records too
    size = len(canonical_json(store.get_decision(work[0][0].id).body()))
    store.close()
    if not result.ok or decisions != len(work):
        raise SystemExit(f"the log is not one chain of {len(work)} records: {result}")
    return (
        f"{len(work) / elapsed:8.0f} appends/s  p50 {percentile(latencies, 50) * 1e3:6.1f} ms  "
        f"p99 {percentile(latencies, 99) * 1e3:6.1f} ms  "
        f"CPU {cpu / len(work) * 1e3:5.2f} ms/append  ({len(work)} records of "
        f"{size / 1024:.0f} KiB, {threads} threads, chain verified)"
    )


@contextmanager
def fresh_postgres(base: str) -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"clearance_bench_{secrets.token_hex(4)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument(
        "--assets", type=int, default=200, help="exposed assets per target (200: ~30 KiB records)"
    )
    parser.add_argument("--postgres", default=os.environ.get("CLEARANCE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    work, policy = samples(args.records, args.assets)
    print(
        f"# audit append, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        print("sqlite    ", run(f"sqlite:///{tmp}/bench.db", work, policy, args.threads))
    if args.postgres:
        with fresh_postgres(args.postgres) as url:
            print("postgresql", run(url, work, policy, args.threads))
    else:
        print("postgresql skipped: pass --postgres URL or set CLEARANCE_TEST_POSTGRES_URL")


if __name__ == "__main__":
    main()
