"""Issue 15's costs: what a freeze window adds to a decision, how fast ``policy simulate`` and
``report shadow`` read a decision log, and one watch pass per deployed target.

* decide: the decision-core benchmark's target (200 assets, 25 touching signals) with and
  without a policy holding four freeze windows (one of them holding), p50/p99 µs;
* simulate / report: N decisions of that target recorded in a SQLite log (1 s apart), then
  ``simulate`` under a candidate with other thresholds and ``shadow_report``, records per second
  (reading the log included);

    python -m bench.bench_change_safely [--records 2000] [--iterations 2000]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import msgspec
import yaml

from bench.decide import NOW, exposure_of_200, load_policy, percentile, touching_signals
from clearance.audit.shadow import shadow_report
from clearance.audit.simulate import simulate
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import Snapshot, SourceHealth, Target
from clearance.policy.compiled import Policy
from clearance.policy.schema import PolicyDocument
from clearance.store.interface import Caller
from clearance.store.sql import SqlStore
from clearance.validation import validate

HERE = Path(__file__).parent
FREEZES = [
    {"name": "weekend", "verdict": "approve", "message": "weekend", "environments":
     ["production"], "timezone": "Europe/Berlin",
     "weekly": [{"days": ["sat", "sun"], "start": "00:00", "end": "24:00"}]},
    {"name": "nights", "verdict": "approve", "message": "nights", "environments": ["production"],
     "timezone": "America/New_York", "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                                 "start": "22:00", "end": "06:00"}]},
    {"name": "year-end", "verdict": "block", "message": "year end", "environments":
     ["production"], "targets": ["prod-eu/shop/*"], "timezone": "UTC",
     "once": [{"start": "2026-12-21T00:00", "end": "2027-01-04T00:00"}]},
    {"name": "release", "verdict": "block", "message": "release", "environments": ["production"],
     "timezone": "Asia/Tokyo", "once": [{"start": "2026-11-27T00:00", "end": "2026-11-29T00:00"}]},
]  # fmt: skip


def variant(freezes: bool, shadow: bool = False, block: float | None = None) -> Policy:
    data = yaml.safe_load((HERE / "policy.yaml").read_text())
    if freezes:
        data["freezes"] = FREEZES
    if shadow:
        data["environments"]["production"]["mode"] = "shadow"
    if block is not None:
        data["environments"]["production"]["thresholds"]["block"] = block
    text = yaml.safe_dump(data).encode()
    return Policy.build(validate(data, PolicyDocument), text, "bench")


def snapshot(target: Target) -> Snapshot:
    exposure = exposure_of_200(target)
    index = SignalIndex(touching_signals())
    health = (SourceHealth(name="edr", last_success=NOW - timedelta(minutes=1)),)
    return Snapshot(exposure=exposure, matches=index.match(exposure), sources=health)


def time_decide(policy: Policy, target: Target, snap: Snapshot, n: int) -> tuple[float, float]:
    samples = []
    gc.disable()
    for _ in range(n):
        start = time.perf_counter()
        decide(target, snap, policy, NOW)
        samples.append((time.perf_counter() - start) * 1e6)
    gc.enable()
    return percentile(samples, 50), percentile(samples, 99)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    target = Target.of("production", "prod-eu", "shop", "deployment/api")
    snap = snapshot(target)
    base = load_policy()
    for name, policy in (("no freezes", base), ("4 freezes", variant(freezes=True))):
        p50, p99 = time_decide(policy, target, snap, args.iterations)
        print(f"decide, {name}: p50 {p50:.0f} µs, p99 {p99:.0f} µs")
    recorded = variant(freezes=False, shadow=True)
    candidate = variant(freezes=True, block=50)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore.open(f"sqlite:///{Path(tmp) / 'bench.db'}")
        caller = Caller(subject="bench", method="token")
        policy_text = yaml.safe_dump(msgspec.to_builtins(recorded.document, enc_hook=str)).encode()
        for i in range(args.records):
            at = NOW + timedelta(seconds=i)
            stored = policy_text if i == 0 else None  # the policy's text once, as the service does
            store.append_decision(decide(target, snap, recorded, at), snap, caller, at, stored)
        until = NOW + timedelta(seconds=args.records)
        start = time.perf_counter()
        impact = simulate(store.iter_records(), candidate, NOW, until)
        took = time.perf_counter() - start
        changed = sum(len(e.changes) for e in impact.environments.values())
        print(f"simulate {args.records} records: {took:.2f} s, {args.records / took:.0f} records/s"
              f" ({changed} changed)")  # fmt: skip
        start = time.perf_counter()
        report = shadow_report(store.iter_records(), store.list_approvals, NOW, until)
        took = time.perf_counter() - start
        counted = report.environments["production"].decisions
        print(f"report shadow {args.records} records: {took:.2f} s, "
              f"{args.records / took:.0f} records/s ({counted} counted)")  # fmt: skip
        store.close()


if __name__ == "__main__":
    main()
