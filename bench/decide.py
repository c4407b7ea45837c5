"""Decision latency as the number of signals held grows, beside the same policy in Rego.

One target whose exposure has 200 assets; 25 signals touch it, held constant, while the total
number of signals in the index grows from 1k to 1M. Each timed iteration does what a decision
does after the inventory answered: match the exposure in the index, build the snapshot, decide.

Times are the process's CPU time per decision (the machine is shared: wall time would count
other processes' turns), for both engines alike.

The same signals and policy are loaded into regorus (Microsoft's Rego interpreter), indexed by
asset key in data as a careful Rego author would; each timed Rego iteration sets the input (the
exposure) and evaluates the verdict. Both must agree on the verdict and the score.

    python -m bench.decide [--sizes 1000,10000,100000,1000000] [--iterations 2000]
    python -m bench.decide --policy examples/policy.yaml   # Clearance alone, another policy
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import (
    ExposedAsset,
    Exposure,
    Proximity,
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    Snapshot,
    SourceHealth,
    Target,
    parse_asset,
)
from clearance.model.assets import index_keys
from clearance.policy.compiled import Policy
from clearance.policy.load import load_policy_text

HERE = Path(__file__).parent
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TOUCHING = 25
KINDS = list(SignalKind)


def load_policy(path: Path = HERE / "policy.yaml") -> Policy:
    # The shipped loader, the same in every tree a baseline is measured from.
    return load_policy_text(path.read_bytes(), "bench")


def exposure_of_200(target: Target) -> Exposure:
    refs: list[tuple[Proximity, str]] = []
    refs += [(Proximity.DIRECT, f"pod:shop/api-{i}") for i in range(50)]
    refs += [(Proximity.DIRECT, f"image:ghcr.io/acme/api-{i}:1.{i}") for i in range(10)]
    for i in range(46):
        refs += [
            (Proximity.HOST, f"host:node-{i}.eu-west-1.compute.internal"),
            (Proximity.HOST, f"ip:10.0.{i // 200}.{i % 200 + 1}"),
            (Proximity.HOST, f"instance:i-{i:017x}"),
        ]
    refs += [
        (Proximity.NAMESPACE, "namespace:prod-eu/shop"),
        (Proximity.CLUSTER, "cluster:prod-eu"),
    ]
    assets = tuple(ExposedAsset(p, parse_asset(r), via="bench") for p, r in refs)
    assert len(assets) == 200
    return Exposure(target=target, assets=assets, inventory="bench")


def make_signal(n: int, asset: str, severity: Severity, kind: SignalKind) -> Signal:
    age = timedelta(minutes=5 + n % 600)
    return Signal(
        uid=SignalUid(f"edr:{n}"),
        source="edr",
        kind=kind,
        title=f"finding {n}",
        severity=severity,
        confidence=0.5 + (n % 50) / 100,
        status=SignalStatus.RESOLVED if n % 10 == 0 else SignalStatus.OPEN,
        first_seen=NOW - age - timedelta(minutes=1),
        last_seen=NOW - age,
        assets=(parse_asset(asset),),
    )


def touching_signals() -> list[Signal]:
    assets = [f"pod:shop/api-{i}" for i in range(0, 50, 5)]
    assets += [f"host:node-{i}" for i in range(0, 46, 5)]  # short names, as EDRs often report
    assets += [f"ip:10.0.0.{i}" for i in (3, 7, 9)]
    assets += ["namespace:prod-eu/shop", "cluster:prod-eu"]
    out = []
    for n, asset in enumerate(assets[:TOUCHING]):
        severity = Severity.CRITICAL if n == 12 else Severity(1 + n % 4)
        kind = SignalKind.DETECTION if n == 12 else KINDS[n % len(KINDS)]
        out.append(make_signal(1_000_000_000 + n, asset, severity, kind))
    return out


def background_signal(n: int) -> Signal:
    choice = n % 4
    asset = (
        f"host:other-{n}.eu-west-1.compute.internal",
        f"pod:other-ns/pod-{n}",
        f"ip:172.{16 + n % 16}.{(n >> 8) % 256}.{n % 256}",
        f"instance:i-b{n:016x}",
    )[choice]
    return make_signal(n, asset, Severity(1 + n % 5), KINDS[n % len(KINDS)])


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rego_engine(policy: Policy, signals: list[Signal]) -> Any:
    import regorus

    doc = policy.document
    # bench/clearance.rego encodes the plain union: no per-kind caps, no change weights.
    if policy.weights.caps or policy.weights.changes:
        raise SystemExit("bench/clearance.rego has no per-kind caps or change weights")
    by_key: dict[str, list[str]] = {}
    table: dict[str, dict[str, Any]] = {}
    for s in signals:
        table[s.uid] = {
            "kind": s.kind.value,
            "severity": int(s.severity),
            "confidence": s.confidence,
            "status": s.status.value,
            "last_seen": int(s.last_seen.timestamp()),
        }
        for ref in s.assets:
            for key in index_keys(ref):
                by_key.setdefault(key, []).append(s.uid)
    env = doc.environments["production"]
    data = {
        "by_key": by_key,
        "signals": table,
        "policy": {
            "approve": env.thresholds.approve / env.sensitivity,
            "block": env.thresholds.block / env.sensitivity,
            # Arrays, indexed by severity_id and proximity rank: Rego looks them up by number.
            # Severity weights per kind, as Clearance weighs them (a kind may have its own table).
            "severity_weights": {
                k.value: [doc.scoring.severity_weight(sev, k) for sev in Severity]
                for k in SignalKind
            },
            "proximity_weights": [doc.scoring.proximity_weight(p) for p in Proximity],
            # Only the kinds the policy weighs: a kind without a half-life (health, here) reaches
            # rules and stances but never the score, so its Rego contribution stays undefined.
            "half_lives": {
                k.value: doc.scoring.half_life(k) for k in SignalKind if doc.scoring.weighs(k)
            },
        },
    }
    engine = regorus.Engine()
    engine.add_policy("clearance.rego", (HERE / "clearance.rego").read_text())
    engine.add_data_json(json.dumps(data))
    return engine


def rego_input(exposure: Exposure) -> str:
    return json.dumps(
        {
            "now": int(NOW.timestamp()),
            "exposure": [
                {"keys": list(index_keys(a.ref)), "rank": int(a.proximity)} for a in exposure.assets
            ],
        }
    )


def run(size: int, iterations: int, with_rego: bool, policy_path: Path) -> dict[str, Any]:
    policy = load_policy(policy_path)
    target = Target.of("production", "prod-eu", "shop", "deployment/api")
    exposure = exposure_of_200(target)
    signals = touching_signals() + [background_signal(n) for n in range(size - TOUCHING)]
    index = SignalIndex(signals)
    sources = (SourceHealth("edr", NOW - timedelta(minutes=1)),)

    def once(exposure: Exposure) -> Any:
        snapshot = Snapshot(exposure, index.match(exposure), sources)
        return decide(target, snapshot, policy, NOW)

    for _ in range(200):
        decision = once(exposure)
    gc.collect()
    gc.disable()
    samples = []
    for _ in range(iterations):
        # A new Exposure, equal to the last, as the service's inventory answers each request:
        # nothing derived from the exposure object itself carries over from one decision to
        # the next (only what is cached by the exposure's content).
        fresh = exposure_of_200(target)
        start = time.process_time_ns()
        once(fresh)
        samples.append((time.process_time_ns() - start) / 1e9)
    gc.enable()
    result: dict[str, Any] = {
        "signals": size,
        "touching": len(decision.contributors) + len(decision.waived),
        "verdict": decision.verdict.value,
        "score": decision.score,
        "p50_us": percentile(samples, 50) * 1e6,
        "p99_us": percentile(samples, 99) * 1e6,
    }
    if with_rego:
        engine = rego_engine(policy, signals)
        payload = rego_input(exposure)

        def rego_once() -> Any:
            engine.set_input_json(payload)
            return engine.eval_rule("data.clearance.verdict")

        for _ in range(5):
            verdict = rego_once()
        rego_samples = []
        for _ in range(max(20, iterations // 20)):
            start = time.process_time_ns()
            rego_once()
            rego_samples.append((time.process_time_ns() - start) / 1e9)
        result["rego_verdict"] = verdict
        result["rego_score"] = round(engine.eval_rule("data.clearance.score"), 2)
        # A comparison is honest only while both compute the same thing.
        if (verdict, result["rego_score"]) != (decision.verdict.value, decision.score):
            raise SystemExit(
                f"Rego disagrees with Clearance at {size:,} signals: {verdict} "
                f"{result['rego_score']} vs {decision.verdict.value} {decision.score}; "
                "bench/clearance.rego no longer encodes bench/policy.yaml"
            )
        result["rego_p50_us"] = percentile(rego_samples, 50) * 1e6
        result["rego_p99_us"] = percentile(rego_samples, 99) * 1e6
        result["speedup_p50"] = result["rego_p50_us"] / result["p50_us"]
    gc.collect()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--no-rego", action="store_true")
    # Another policy (examples/policy.yaml: kinds weighed apart, CEL rules of every scope) on
    # the same data; Clearance only, since bench/clearance.rego encodes bench/policy.yaml.
    parser.add_argument("--policy", type=Path, default=HERE / "policy.yaml")
    args, _ = parser.parse_known_args()
    print(
        f"# decide latency — {platform.machine()} {platform.python_implementation()} "
        f"{platform.python_version()}, {datetime.now(UTC).date()}"
    )
    print(
        "| signals held | touching | verdict | score | p50 µs | p99 µs "
        "| Rego p50 µs | Rego p99 µs | Rego score | speed-up (p50) |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        own = args.policy.resolve() == (HERE / "policy.yaml").resolve()
        r = run(size, args.iterations, own and not args.no_rego, args.policy)
        rego = (
            f"{r['rego_p50_us']:.0f} | {r['rego_p99_us']:.0f} | {r['rego_score']} "
            f"({r['rego_verdict']}) | {r['speedup_p50']:.0f}×"
            if "rego_p50_us" in r
            else "– | – | – | –"
        )
        print(
            f"| {r['signals']:,} | {r['touching']} | {r['verdict']} | {r['score']} "
            f"| {r['p50_us']:.0f} | {r['p99_us']:.0f} | {rego} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
