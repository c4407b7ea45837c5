"""Benchmark: throughput of the push and file normalizers beside the parse-only limit.

N items made from the real payloads in tests/fixtures/ (distinct workloads, ids and CVEs; real
shapes) are normalized from bytes to signals, and the same bytes are parsed with ``orjson.loads``
in the same run (per line for JSON Lines). Best of five each, parse and normalize alternating:
timed as two blocks of three (as before 2026-11-29), load from other processes on a shared
2-core machine that changed between the blocks moved the fraction by up to 2× from run to run.
Issue 4's target: at least a third of the parse-only limit (``fraction_of_parse_limit`` ≥ 0.33,
counted in items so folding does not flatter it).

* falco distinct: JSON Lines, every event on its own pod (no folding: one signal per event);
* falco folded: JSON Lines, the events spread over 100 pods (what a noisy rule looks like);
* ocsf: a JSON list of Detection Findings; trivy: one report with N CVE rows;
* trivy-operator: a VulnerabilityReport with N rows as ``kubectl -o json`` writes it;
* kev: a catalog of N entries (``load_catalog``; entries, not signals).

    .venv/bin/python bench/bench_normalize_push.py              # 10,000 items per format
    .venv/bin/python bench/bench_normalize_push.py --items 50000
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src")]
FIXTURES = ROOT / "tests" / "fixtures"
ROUNDS = 5


def _falco(count: int, pods: int | None) -> bytes:
    import orjson

    base = json.loads(
        (FIXTURES / "falco" / "events.syscall-k8s.falco-website.jsonl").read_bytes().splitlines()[3]
    )
    lines = []
    for n in range(count):
        event = copy.deepcopy(base)
        pod = n if pods is None else n % pods
        event["output_fields"]["k8s.pod.name"] = f"web-{pod}"
        event["output_fields"]["container.id"] = f"{n:012x}"
        event["time"] = f"2026-11-28T12:{(n // 60) % 60:02d}:{n % 60:02d}.{n:09d}Z"
        lines.append(orjson.dumps(event))
    return b"\n".join(lines)


def _ocsf(count: int) -> bytes:
    import orjson

    base = json.loads(
        (FIXTURES / "ocsf" / "detection_finding.k8s-container.synthetic.ocsf.json").read_bytes()
    )
    findings = []
    for n in range(count):
        finding = copy.deepcopy(base)
        finding["finding_info"]["uid"] = f"finding-{n}"
        finding["resources"][0]["name"] = f"web-{n}"
        findings.append(finding)
    return orjson.dumps(findings)


def _trivy(count: int) -> bytes:
    import orjson

    report = json.loads((FIXTURES / "trivy" / "report.image.alpine-3.10.golden.json").read_bytes())
    row = report["Results"][0]["Vulnerabilities"][0]
    report["Results"][0]["Vulnerabilities"] = [
        row | {"VulnerabilityID": f"CVE-2024-{10000 + n}"} for n in range(count)
    ]
    return orjson.dumps(report)


def _operator(count: int) -> bytes:
    import orjson
    import yaml

    resource = yaml.safe_load(
        (
            FIXTURES / "trivy-operator" / "vulnerabilityreport.replicaset-coredns.envtest.yaml"
        ).read_bytes()
    )
    row = resource["report"]["vulnerabilities"][0]
    resource["report"]["vulnerabilities"] = [
        row | {"vulnerabilityID": f"CVE-2024-{10000 + n}"} for n in range(count)
    ]
    return orjson.dumps(resource)


def _kev(count: int) -> bytes:
    import orjson

    catalog = json.loads(
        (FIXTURES / "kev" / "known_exploited_vulnerabilities.trimmed.json").read_bytes()
    )
    entry = catalog["vulnerabilities"][0]
    catalog["vulnerabilities"] = [entry | {"cveID": f"CVE-2024-{10000 + n}"} for n in range(count)]
    return orjson.dumps(catalog)


def payloads(count: int) -> dict[str, tuple[bytes, Callable[[bytes], int], bool]]:
    """name → (bytes, normalize returning the signals produced, is JSON Lines)."""
    from clearance.sources.falco.normalize import FalcoNormalizer
    from clearance.sources.kev.catalog import load_catalog
    from clearance.sources.ocsf import OcsfNormalizer
    from clearance.sources.trivy.report import TrivyNormalizer

    scanned = datetime(2026, 11, 28, tzinfo=UTC)

    def signals(normalizer: Any) -> Callable[[bytes], int]:
        return lambda data: len(normalizer.normalize(data).signals)

    return {
        "falco distinct": (_falco(count, None), signals(FalcoNormalizer(cluster="prod")), True),
        "falco folded": (_falco(count, 100), signals(FalcoNormalizer(cluster="prod")), True),
        "ocsf": (_ocsf(count), signals(OcsfNormalizer(cluster="prod")), False),
        "trivy": (_trivy(count), signals(TrivyNormalizer()), False),
        "trivy-operator": (
            _operator(count),
            signals(TrivyNormalizer(cluster="prod", scanned_at=scanned)),
            False,
        ),
        "kev catalog": (_kev(count), lambda data: len(load_catalog(data).entries), False),
    }


def _timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def throughput(count: int) -> dict[str, Any]:
    import orjson

    results: dict[str, Any] = {}
    for name, (data, normalize, lines) in payloads(count).items():

        def parse(data: bytes = data, lines: bool = lines) -> Any:
            if lines:
                return [orjson.loads(line) for line in data.splitlines()]
            return orjson.loads(data)

        work = functools.partial(normalize, data)
        rounds = [(_timed(parse), _timed(work)) for _ in range(ROUNDS)]
        parse_s = min(p for p, _ in rounds)
        normalize_s = min(n for _, n in rounds)
        produced = normalize(data)
        results[name] = {
            "items": count,
            "signals": produced,
            "mb": round(len(data) / 1e6, 1),
            "orjson_items_per_s": round(count / parse_s),
            "normalize_items_per_s": round(count / normalize_s),
            "normalize_signals_per_s": round(produced / normalize_s),
            "fraction_of_parse_limit": round(parse_s / normalize_s, 3),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(throughput(args.items), indent=2))


if __name__ == "__main__":
    main()
