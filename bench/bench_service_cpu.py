"""Service CPU per recorded decision: the decision service's whole path in one process, timed by
the process's own CPU clock (steady when other work shares the machine; wall time is not).

Each decision goes through ``ServerContext.decide`` as a request's would (snapshot from the
store and the inventory, the engine, the hash-chained append, the approval state) and its answer
is built (``Outcome.to_dict``); only HTTP is left out (``bench_open_loop`` measures the service
with it). The fleet: ``--workloads`` targets of 200 exposed assets each (the ``decide``
benchmark's exposure: pods, images, hosts with their IPs and instance ids, namespace, cluster),
25 stored signals touching each, 2,000 others; the shipped benchmark policy. Targets are asked
round-robin, each with a distinct commit, so every decision is a new record.

Printed per database: CPU ms per recorded decision, per dry run (decided, not recorded), their
ratio (the cost of durability), the chain verified at the end, the characters stored per
decision (its ``record`` column and the parts stored apart, migration 0017), and the *store
floor*: the CPU of the database's part of an append alone (the appender's transaction and
statements, fsync included, with a record already built), and the ratio durability would have
if building, canonicalizing and hashing the record cost nothing.

``--baseline DIR`` measures the source tree in DIR first (its ``src`` first on ``PYTHONPATH``),
in the same run on the same machine.

    python -m bench.bench_service_cpu [--decisions 2000] [--workloads 20] [--baseline DIR]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
TOUCHING = 25
BACKGROUND = 2000


def write_fleet(root: Path, workloads: int, now: datetime) -> list[dict[str, Any]]:
    """clearance.yaml, a static inventory of 200-asset targets, the policy; the signals."""
    (root / "policy.yaml").write_text((HERE / "policy.yaml").read_text())
    targets = []
    signals: list[dict[str, Any]] = []
    seen = now - timedelta(minutes=30)
    for w in range(workloads):
        direct = [f"pod:shop/app-{w}-{i}" for i in range(50)]
        direct += [f"image:ghcr.io/acme/app-{w}-{i}:1.{i}" for i in range(10)]
        host = []
        for i in range(46):
            host += [
                f"host:node-{w}-{i}.eu-west-1.compute.internal",
                f"ip:10.{w}.{i // 200}.{i % 200 + 1}",
                f"instance:i-{w:05x}{i:012x}",
            ]
        targets.append(
            {
                "cluster": "prod-eu",
                "namespace": "shop",
                "workload": f"deployment/app-{w}",
                "assets": {"direct": direct, "host": host},
            }
        )
        touched = direct[::5] + host[::14]
        for n in range(TOUCHING):
            signals.append(_signal(f"edr:{w}-{n}", touched[n % len(touched)], n, seen))
    for n in range(BACKGROUND):
        signals.append(_signal(f"edr:bg-{n}", f"host:other-{n}.corp.example", n, seen))
    (root / "inventory.yaml").write_text(yaml.safe_dump({"targets": targets}))
    (root / "edr.jsonl").write_text("")
    config = {
        "policy": "policy.yaml",
        "sources": [{"name": "edr", "type": "file", "path": "edr.jsonl"}],
        "inventory": {"name": "fleet", "type": "static", "path": "inventory.yaml"},
    }
    (root / "clearance.yaml").write_text(yaml.safe_dump(config))
    return signals


def _signal(uid: str, asset: str, n: int, seen: datetime) -> dict[str, Any]:
    return {
        "uid": uid,
        "source": "edr",
        "kind": "detection" if n % 3 else "vulnerability",
        "title": f"finding {uid}",
        "confidence": 0.3 if n % 4 else 0.6,
        "severity": 1 + n % 4,
        "status": "open",
        "first_seen": (seen - timedelta(hours=1)).isoformat(),
        "last_seen": seen.isoformat(),
        "assets": [asset],
    }


def measure(store_url: str, decisions: int, workloads: int) -> dict[str, Any]:
    """In this process: the tree on ``sys.path`` first is the one measured."""
    from clearance.audit.verify import verify
    from clearance.model.signal import signal_from_dict
    from clearance.model.target import ChangeInfo, Target
    from clearance.server.app import build_context
    from clearance.server.settings import ServerSettings
    from clearance.store.interface import Caller
    from clearance.store.sql import SqlStore

    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="clearance-cpu-") as tmp:
        root = Path(tmp)
        url = store_url.replace("{tmp}", tmp)
        signals = write_fleet(root, workloads, now)
        store = SqlStore.open(url)
        store.upsert_signals([signal_from_dict(s) for s in signals], now)
        store.record_source_success("edr", now)
        ctx = build_context(root / "clearance.yaml", store, ServerSettings())
        caller = Caller("token:bench", "token", token_id="tok-bench")

        def run(n: int, record: bool) -> float:
            started = time.process_time()
            for i in range(n):
                target = Target.of(
                    environment="production",
                    cluster="prod-eu",
                    namespace="shop",
                    workload=f"deployment/app-{i % workloads}",
                    change=ChangeInfo(commit=secrets.token_hex(20), actor=f"dev{i % 7}"),
                )
                ctx.decide(target, caller, None, record=record).to_dict()
            return 1000 * (time.process_time() - started) / n

        try:
            run(min(200, decisions), record=True)  # warm up: imports, caches, statements
            recorded = run(decisions, record=True)
            dry = run(decisions, record=False)
            verified = verify(store).ok
            stored = stored_bytes(store)
            floor = store_floor(store, decisions)
        finally:
            ctx.close()
    result = {
        "recorded_cpu_ms": round(recorded, 3),
        "dry_run_cpu_ms": round(dry, 3),
        "durability_cost": round(recorded / dry, 2),
        "chain_verified": verified,
        "stored_bytes_per_decision": stored,
    }
    if floor is not None:
        result["store_floor_cpu_ms"] = round(floor, 3)
        result["durability_floor"] = round((dry + floor) / dry, 2)
    return result


def store_floor(store: Any, n: int) -> float | None:
    """CPU ms of the database's part of an append alone: the appender's own transaction and
    statements (read the head, insert a record, move the head, commit with the store's fsync
    settings) with a record already built — a stored one, inserted again under a new seq, id
    and hash — so no record is built, canonicalized or hashed. ``recorded`` can come no closer
    to ``dry run`` than this. Run last: the rows it adds do not chain (nothing verifies them).
    None for a tree without the appender's driver-level statements."""
    try:
        from clearance.store.appender import _Statements
    except ImportError:
        return None
    sql = _Statements.compile(store.db.engine.dialect)
    from sqlalchemy import select

    from clearance.store import tables as t

    with store.db.engine.connect() as conn:
        last = conn.execute(select(t.decisions).order_by(t.decisions.c.seq.desc()).limit(1))
        row = dict(last.one()._mapping)
    started = time.process_time()
    for _ in range(n):
        with store.db.driver_write("store floor") as cur:
            cur.execute(sql.head.sql, sql.head.parameters({}))
            seq, _ = cur.fetchone()
            digest = secrets.token_hex(32)
            values = row | {
                "seq": int(seq) + 1,
                "hash": digest,
                "prev_hash": "0" * 64,
            }
            values["decision_id"] = "floor-" + secrets.token_hex(8)
            cur.executemany(sql.insert.sql, [sql.insert.parameters(values)])
            cur.execute(
                sql.move_head.sql,
                sql.move_head.parameters({"head_seq": int(seq) + 1, "head_hash": digest}),
            )
    return 1000 * (time.process_time() - started) / n


def stored_bytes(store: Any) -> int:
    """Characters of the decisions' ``record`` column and of the parts stored apart
    (``record_parts``, where the tree has it), per decision."""
    from sqlalchemy import text

    with store.db.engine.connect() as conn:
        count, records = conn.execute(
            text("SELECT count(*), sum(length(record)) FROM decisions")
        ).one()
        try:
            parts = conn.execute(text("SELECT sum(length(text)) FROM record_parts")).scalar()
        except Exception:  # a tree before migration 0017: no parts table
            parts = 0
    return round((int(records) + int(parts or 0)) / int(count))


def _postgres(base: str) -> tuple[str, str]:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"clearance_cpu_{secrets.token_hex(4)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False), admin


def _drop(admin: str, url: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _child(tree: Path, url: str, decisions: int, workloads: int) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), str(HERE.parent)])
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_service_cpu", "--child", url,
         "--decisions", str(decisions), "--workloads", str(workloads)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--workloads", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="a source tree to measure first")
    parser.add_argument("--postgres", default=os.environ.get("CLEARANCE_TEST_POSTGRES_URL"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.decisions, args.workloads)))
        return
    print(
        f"# service CPU per decision — {platform.platform()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{args.workloads} targets x 200 assets, {TOUCHING} touching signals each",
        flush=True,
    )
    databases = [("sqlite", "sqlite:///{tmp}/bench.db")]
    if args.postgres:
        databases.append(("postgresql", args.postgres))
    trees = [("baseline", args.baseline)] if args.baseline else []
    trees.append(("this tree", HERE.parent))
    for name, base in databases:
        for label, tree in trees:
            url, admin = _postgres(args.postgres) if name == "postgresql" else (base, None)
            try:
                result = _child(tree, url, args.decisions, args.workloads)
            finally:
                if admin is not None:
                    _drop(admin, url)
            print(
                json.dumps({"database": name, "tree": label} | result)
                + f"  # load {os.getloadavg()[0]:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
