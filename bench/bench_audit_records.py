"""What an override costs now that it is a record of the chain, and what a checkpoint costs.

* ``approval``: ``Store.add_approval`` one at a time, each committed (with its chain record:
  the head locked, the row read back, one record sealed, the head moved), on a log of
  ``--decisions`` real decisions. Runs unchanged on the code before records existed, so the two
  can be compared on one machine (``--skip-checkpoints`` there).
* ``checkpoint``: ``Checkpointer.write`` after every ``--every`` appended decisions: the
  continuity check over those records, the Ed25519 signature, the insert, and the append plus
  fsync of the external copy. Also the signature alone.

CPU is the process's (``time.process_time``) per operation.

    python -m bench.bench_audit_records [--approvals 500] [--decisions 200] [--every 1000]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.bench_audit_append import fresh_postgres, samples
from bench.decide import NOW, percentile
from clearance.store.interface import Approval, ApprovalOutcome, Caller
from clearance.store.sql import SqlStore


def _timed(label: str, runs: list[float], cpu: float) -> str:
    p50, p99 = percentile(runs, 50) * 1e3, percentile(runs, 99) * 1e3
    return (
        f"{label:<11} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
        f"  CPU {cpu / len(runs) * 1e3:5.2f} ms/op  ({len(runs)} ops)"
    )


def approvals(url: str, decisions: int, count: int) -> str:
    work, policy = samples(decisions, assets=20)
    store = SqlStore.open(url)
    store.put_policy(work[0][0].policy_digest, policy, NOW)
    caller = Caller("bench", "token", token_id="tok_bench")
    ids = [store.append_decision(d, s, caller, d.at).decision_id for d, s in work]
    runs: list[float] = []
    cpu_before = time.process_time()
    for i in range(count):
        approval = Approval(
            id=f"apr_{i:08d}",
            decision_id=ids[i % len(ids)],
            approver=f"person{i}",
            outcome=ApprovalOutcome.APPROVE,
            reason="looked at it",
            at=NOW + timedelta(seconds=i),
            expires_at=NOW + timedelta(hours=4),
            score=42.0,
            signals=("edr:1", "edr:2"),
            groups=("security",),
        )
        start = time.perf_counter()
        store.add_approval(approval)
        runs.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu_before
    store.close()
    return _timed("approval", runs, cpu)


def checkpoints(url: str, every: int, count: int, tmp: Path) -> list[str]:
    from clearance.audit.checkpointer import Checkpointer
    from clearance.audit.checkpoints import Mirror, statement
    from clearance.audit.signing import Ed25519FileSigner, generate

    generate(tmp / "bench.pem")
    signer = Ed25519FileSigner.from_file(tmp / "bench.pem")
    store = SqlStore.open(url)
    work, policy = samples(every * count, assets=20)
    store.put_policy(work[0][0].policy_digest, policy, NOW)
    caller = Caller("bench", "token", token_id="tok_bench")
    writer = Checkpointer(store, signer, mirror=Mirror(tmp / "checkpoints.jsonl"))
    writer.write(NOW)
    runs: list[float] = []
    cpu = 0.0
    for round_ in range(count):
        for decision, snapshot in work[round_ * every : (round_ + 1) * every]:
            store.append_decision(decision, snapshot, caller, decision.at)
        before, start = time.process_time(), time.perf_counter()
        writer.write(NOW + timedelta(minutes=round_ + 1))
        runs.append(time.perf_counter() - start)
        cpu += time.process_time() - before
    store.close()
    message = statement(1, "ab" * 32, NOW, signer.key_id)
    signing: list[float] = []
    cpu_before = time.process_time()
    for _ in range(1000):
        start = time.perf_counter()
        signer.sign(message)
        signing.append(time.perf_counter() - start)
    sign_cpu = time.process_time() - cpu_before
    return [_timed(f"checkpoint ({every} records since the last)", runs, cpu),
            _timed("sign only", signing, sign_cpu)]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approvals", type=int, default=500)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--checkpoints", type=int, default=5)
    parser.add_argument("--skip-checkpoints", action="store_true", help="(the code before them)")
    parser.add_argument("--postgres", default=os.environ.get("CLEARANCE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    print(
        f"# audit records, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    targets = [("sqlite", None)] + ([("postgresql", args.postgres)] if args.postgres else [])
    for name, base in targets:
        with tempfile.TemporaryDirectory() as tmp:
            if base is None:
                url = f"sqlite:///{tmp}/bench.db"
                print(f"{name:<10}", approvals(url, args.decisions, args.approvals))
            else:
                with fresh_postgres(base) as url:
                    print(f"{name:<10}", approvals(url, args.decisions, args.approvals))
            if args.skip_checkpoints:
                continue
            if base is None:
                for line in checkpoints(
                    f"sqlite:///{tmp}/cp.db", args.every, args.checkpoints, Path(tmp)
                ):
                    print(f"{name:<10}", line)
            else:
                with fresh_postgres(base) as url:
                    for line in checkpoints(url, args.every, args.checkpoints, Path(tmp)):
                        print(f"{name:<10}", line)


if __name__ == "__main__":
    main()
