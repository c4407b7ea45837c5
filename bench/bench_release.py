"""Benchmark: what issue 16 adds to a decision — reading the change's reports (JUnit, SARIF),
the drift lookup (the target's last recorded decision) on a real SQLite store, and matching the
hosts a target touches against the agent inventories (coverage).

Reports are built from the real fixtures' shapes (pytest's JUnit XML, Semgrep's SARIF result),
repeated to size. Process CPU time (``time.process_time``), best of five, so other work on a
shared machine moves it less than wall time would.

    .venv/bin/python bench/bench_release.py [--tests 5000] [--results 1000] [--signals 2000]
        [--agents 10000] [--hosts 50]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "tests" / "fixtures" / "reports"


def best(run: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def junit(tests: int) -> bytes:
    cases = []
    for n in range(tests):
        failed = n % 50 == 0  # 2 % failing
        body = (
            f'<failure message="AssertionError: case {n}">def test_{n}():\n&gt; assert False'
            "</failure>"
            if failed
            else ""
        )
        cases.append(f'<testcase classname="tests.test_mod{n // 100}" name="test_{n}" '
                     f'time="0.001">{body}</testcase>')  # fmt: skip
    return (
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        f'<testsuite name="pytest" errors="0" failures="{tests // 50}" skipped="0" '
        f'tests="{tests}">{"".join(cases)}</testsuite></testsuites>'
    ).encode()


def sarif(results: int) -> bytes:
    log = json.loads((REPORTS / "semgrep.docs-example.sarif").read_text())
    template = log["runs"][0]["results"][0]
    items = []
    for n in range(results):
        item = json.loads(json.dumps(template))
        item["locations"][0]["physicalLocation"]["region"]["startLine"] = n + 1
        item["fingerprints"] = {"matchBasedId/v1": f"{n:040x}"}
        items.append(item)
    log["runs"][0]["results"] = items
    return json.dumps(log).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--results", type=int, default=1000)
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=10000)
    parser.add_argument("--hosts", type=int, default=50)
    args = parser.parse_args()
    from clearance.sources.reports import read_report

    xml, log = junit(args.tests), sarif(args.results)
    t = best(lambda: read_report("junit", "r.xml", xml))
    print(f"JUnit {args.tests} tests ({len(xml) / 1e6:.2f} MB): {t * 1e3:.1f} ms CPU")
    t = best(lambda: read_report("sarif", "r.sarif", log))
    print(f"SARIF {args.results} results ({len(log) / 1e6:.2f} MB): {t * 1e3:.1f} ms CPU")
    drift(args.signals)
    coverage(args.agents, args.hosts)


def coverage(agents: int, hosts: int) -> None:
    """``host_coverage``: each host the target touches against every inventory record (Wazuh
    agents read from the real record shape, plus one GuardDuty cluster-wide record)."""
    import copy

    from clearance.model.assets import parse_asset
    from clearance.model.coverage import AgentIndex, Managed, host_coverage
    from clearance.model.target import ExposedAsset, Exposure, Proximity, Target
    from clearance.sources.wazuh.agents import managed_agent

    body = json.loads((ROOT / "tests/fixtures/wazuh/agents.server-api-4.7.json").read_text())
    template = body["data"]["affected_items"][0]
    records = []
    for n in range(agents):
        record = copy.deepcopy(template)
        record.update(id=f"{n:05d}", name=f"ip-10-{n // 65536}-{n // 256 % 256}-{n % 256}")
        record["ip"] = f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
        records.append(record)
    t = best(lambda: [managed_agent(r, "wazuh", "edr") for r in records])
    print(f"Wazuh inventory, {agents} agent records mapped: {t * 1e3:.1f} ms CPU")
    inventory = [a for r in records if (a := managed_agent(r, "wazuh", "edr")) is not None]
    cluster = parse_asset("cluster:prod-eu")
    inventory.append(Managed("gd", "runtime", "prod-eu", (cluster,), None, scope="cluster"))
    target = Target.of("production", "prod-eu", "shop", "deployment/checkout")
    touched = [
        ExposedAsset(Proximity.HOST, parse_asset(f"host:ip-10-0-{n // 256}-{n % 256}"))
        for n in range(0, hosts * 7, 7)
    ]
    exposure = Exposure(target, (*touched, ExposedAsset(Proximity.CLUSTER, cluster)), "bench")
    t = best(lambda: host_coverage(exposure, inventory))
    print(f"host_coverage, {hosts} hosts x {len(inventory)} records: {t * 1e3:.1f} ms CPU")
    # The service files one inventory read once (StoredEvidence caches the AgentIndex) and each
    # decision then looks its hosts up in it.
    index = AgentIndex(inventory)
    t = best(lambda: host_coverage(exposure, index))
    print(f"host_coverage, {hosts} hosts, index already built: {t * 1e3:.2f} ms CPU")


def drift(signals: int) -> None:
    """The drift lookup: the newest recorded decision of the target, snapshot included."""
    from clearance.engine import decide
    from clearance.model.assets import parse_asset
    from clearance.model.signal import Severity, Signal, SignalKind, SignalStatus, SignalUid
    from clearance.model.snapshot import Match, Snapshot
    from clearance.model.target import ExposedAsset, Exposure, Proximity, SourceHealth, Target
    from clearance.policy.load import load_policy
    from clearance.snapshot import StoredEvidence
    from clearance.store.interface import Caller
    from clearance.store.sql import SqlStore

    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    target = Target.of("production", "prod-eu", "shop", "deployment/checkout")
    image = ExposedAsset(Proximity.DIRECT, parse_asset("image:ghcr.io/acme/checkout:1.0"))
    matches = tuple(
        Match(
            Signal(
                uid=SignalUid(f"edr:{n}"), source="edr", kind=SignalKind.VULNERABILITY,
                title=f"CVE-2026-{n:05d}", severity=Severity.MEDIUM, confidence=1.0,
                status=SignalStatus.OPEN, first_seen=now - timedelta(days=1),
                last_seen=now - timedelta(days=1), assets=(image.ref,), rule=f"CVE-2026-{n:05d}",
            ),
            Proximity.DIRECT,
            image,
        )
        for n in range(signals)
    )  # fmt: skip
    snapshot = Snapshot(Exposure(target, (image,), "bench"), matches, (SourceHealth("edr", now),))
    policy = load_policy(ROOT / "examples" / "policy.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore.open(f"sqlite:///{tmp}/bench.db")
        try:
            decision = decide(target, snapshot, policy, now)
            text = (ROOT / "examples" / "policy.yaml").read_bytes()
            store.append_decision(decision, snapshot, Caller("user:bench", "local"), now, text)
            evidence = StoredEvidence(store)
            t = best(lambda: evidence.last_decided(target, now), repeat=9)
            print(
                f"drift lookup, last decision with {signals} matched signals: {t * 1e3:.1f} ms CPU"
            )
            t = best(lambda: decide(target, snapshot, policy, now), repeat=5)
            print(f"(for scale) decide() on that snapshot: {t * 1e3:.1f} ms CPU")
        finally:
            store.close()


if __name__ == "__main__":
    main()
