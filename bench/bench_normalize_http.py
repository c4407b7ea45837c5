"""Benchmark: normalization throughput of the REST adapters beside the parse-only limit.

For Defender for Endpoint (an ``/api/alerts`` page with evidence), SentinelOne (a ``/threats``
page) and Wazuh (``alerts.json`` lines, and an indexer ``_search`` page), N items made from the
real payloads in tests/fixtures/ (distinct ids and times, real shapes) are normalized from bytes
to signals, and the same bytes are parsed with ``orjson.loads`` in the same run (per line for
JSON Lines). Best of three each. Issue 4's target: at least a third of the parse-only limit.

    .venv/bin/python bench/bench_normalize_http.py              # 10,000 items per adapter
    .venv/bin/python bench/bench_normalize_http.py --items 50000
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]


def payloads(count: int) -> dict[str, tuple[bytes, Any, bool]]:
    """name → (bytes, normalizer, is JSON Lines)."""
    import orjson

    from clearance.sources.defender.source import DefenderNormalizer
    from clearance.sources.sentinelone.source import SentinelOneNormalizer
    from clearance.sources.wazuh.source import WazuhNormalizer
    from standins import defender, sentinelone, wazuh

    mde = defender.DefenderState()
    mde.add_alerts(count)
    s1 = sentinelone.SentinelOneState()
    s1.add_threats(count)
    wz = wazuh.WazuhState()
    wz.add_alerts(count)
    search = {"hits": {"hits": [{"_source": a, "sort": wazuh.sort_values(a)} for a in wz.alerts]}}
    return {
        "defender": (orjson.dumps({"value": mde.alerts}), DefenderNormalizer(), False),
        "sentinelone": (orjson.dumps({"data": s1.threats}), SentinelOneNormalizer(), False),
        "wazuh alerts.json": (
            b"\n".join(orjson.dumps(a) for a in wz.alerts),
            WazuhNormalizer(),
            True,
        ),
        "wazuh _search": (orjson.dumps(search), WazuhNormalizer(), False),
    }


def _timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def throughput(count: int) -> dict[str, Any]:
    import orjson

    results: dict[str, Any] = {}
    for name, (data, normalizer, lines) in payloads(count).items():

        def parse(data: bytes = data, lines: bool = lines) -> Any:
            if lines:
                return [orjson.loads(line) for line in data.splitlines()]
            return orjson.loads(data)

        parse_s = min(_timed(parse) for _ in range(3))
        work = functools.partial(normalizer.normalize, data)
        normalize_s = min(_timed(work) for _ in range(3))
        batch = normalizer.normalize(data)
        produced = len(batch.signals)
        results[name] = {
            "items": count,
            "signals": produced,
            "quarantined": len(batch.quarantined),
            "mb": round(len(data) / 1e6, 1),
            "orjson_items_per_s": round(count / parse_s),
            "normalize_signals_per_s": round(produced / normalize_s),
            "fraction_of_parse_limit": round(parse_s / normalize_s * produced / count, 3),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(throughput(args.items), indent=2))


if __name__ == "__main__":
    main()
