"""What post-deploy checks (issue 19) add to each decision: ``SqlStore.checks_for``, the one
read a decision makes for them (the latest check of the running release, and the latest check
of the same release in each other environment), on a store holding ``--checks`` recorded checks
over ``--targets`` targets and as many releases.

* ``none``: a target with no check recorded (most decisions);
* ``both``: a target whose running release and whose release elsewhere both have checks.

Wall time per call (p50, p99), and the process's CPU per call.

    python -m bench.bench_checks [--checks 5000] [--targets 500] [--calls 1000]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.bench_audit_append import fresh_postgres, samples
from bench.decide import NOW, percentile
from clearance.model.checks import PostDeployCheck, release_key
from clearance.model.reports import Finding, Report, ReportFormat
from clearance.model.signal import Severity
from clearance.model.target import Target
from clearance.store import checks
from clearance.store.interface import Caller
from clearance.store.sql import SqlStore

ENVIRONMENTS = ("development", "staging", "production")
REPORT = Report(
    ReportFormat.JUNIT, "smoke.xml", "sha256:" + "0" * 64, "pytest", 12,
    (Finding("smoke.test_health", "Test smoke.test_health failed", Severity.HIGH, "smoke"),),
)  # fmt: skip


def _image(n: int) -> str:
    return f"ghcr.io/acme/app:1@sha256:{n:064x}"


def _fill(store: SqlStore, count: int, targets: int) -> None:
    work, policy = samples(20, assets=5)
    store.put_policy(work[0][0].policy_digest, policy, NOW)
    caller = Caller("bench", "token", token_id="tok_bench")
    ids = [store.append_decision(d, s, caller, d.at).decision_id for d, s in work]
    with store.db.write("bench checks") as conn:
        for i in range(count):
            n = i % targets
            target = Target.of(ENVIRONMENTS[i % 3], "eu", "shop", f"deployment/app{n}",
                               images=(_image(n),))  # fmt: skip
            check = PostDeployCheck(
                f"chk_{i:08d}", ids[i % len(ids)], target.environment, target.key,
                NOW + timedelta(seconds=i), REPORT,
            )  # fmt: skip
            checks.add(conn, check, release_key(target.images), "bench")


def _run(url: str, count: int, targets: int, calls: int) -> list[str]:
    store = SqlStore.open(url)
    try:
        _fill(store, count, targets)
        cases = {
            "none": Target.of("production", "eu", "shop", "deployment/other",
                              images=(_image(10**9),)),
            "both": Target.of("production", "eu", "shop", "deployment/app2",
                              images=(_image(2),)),
        }  # fmt: skip
        lines = []
        for label, target in cases.items():
            found = len(store.checks_for(target))
            runs = []
            cpu = time.process_time()
            for _ in range(calls):
                start = time.perf_counter()
                store.checks_for(target)
                runs.append(time.perf_counter() - start)
            cpu = time.process_time() - cpu
            lines.append(
                f"{label:<5} ({found} found)  p50 {percentile(runs, 50) * 1e3:6.3f} ms  "
                f"p99 {percentile(runs, 99) * 1e3:6.3f} ms  CPU {cpu / calls * 1e3:6.3f} ms/call"
            )
        return lines
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--postgres")
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{args.checks} checks over {args.targets} targets")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        for line in _run(url, args.checks, args.targets, args.calls):
            print("SQLite     ", line)
    if args.postgres:
        with fresh_postgres(args.postgres) as url:
            for line in _run(url, args.checks, args.targets, args.calls):
                print("PostgreSQL ", line)


if __name__ == "__main__":
    main()
