"""Benchmark: Falcon alerts synced from the loopback stand-in, and normalizer throughput.

Two measurements (issue 4, docs/benchmarks.md):

1. **End to end**: N alerts (default 100,000, made from the real EPP alert) fetched through
   FalconPy from ``tests/standins/falcon.py`` running in its own process, normalized, and (when a
   store is named) upserted into SQLite or PostgreSQL batch by batch, the watermark advanced
   after each stored batch, exactly as ``sync`` does. Wall time and the peak resident memory of
   the syncing process (``ru_maxrss``; each scenario runs in a fresh process).
2. **Normalization throughput**: ``FalconNormalizer`` and ``GuardDutyNormalizer`` over the same
   bytes as ``orjson.loads``, in the same run: signals/s beside the parse-only limit.

    .venv/bin/python bench/bench_falcon_sync.py                       # everything
    .venv/bin/python bench/bench_falcon_sync.py --alerts 20000 --stores none sqlite
    CLEARANCE_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/clearance_bench \\
        .venv/bin/python bench/bench_falcon_sync.py --stores postgres

PostgreSQL is skipped, saying so, when ``CLEARANCE_BENCH_POSTGRES_URL`` (or
``CLEARANCE_TEST_POSTGRES_URL``) is unset; its tables are dropped and recreated by migration.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]


def sync(base_url: str, store_url: str | None) -> dict[str, Any]:
    """One end-to-end run in this process: fetch → normalize → store → advance the watermark."""
    from clearance.sources.falcon.source import FalconConfig, FalconSource

    store = None
    if store_url:
        from clearance.store import open_store

        store = open_store(store_url)
    source = FalconSource(
        "falcon",
        FalconConfig(
            client_id="0123456789abcdef0123456789abcdef",
            client_secret="s3cr3t-Falcon-standin-0123456789abcdefXYZ",  # type: ignore[arg-type]
            base_url=base_url,
        ),
    )
    now = datetime(2025, 7, 1, tzinfo=UTC)
    signals = quarantined = 0
    started = time.perf_counter()
    for batch in source.fetch(store.get_watermark("falcon") if store else None):
        if store is not None:
            store.upsert_signals(batch.signals, now)
            store.add_quarantined(batch.quarantined, now)
            store.record_source_success("falcon", now, batch.watermark)
        signals += len(batch.signals)
        quarantined += len(batch.quarantined)
    elapsed = time.perf_counter() - started
    if store is not None:
        store.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "signals": signals,
        "quarantined": quarantined,
        "seconds": round(elapsed, 2),
        "signals_per_s": round(signals / elapsed),
        "peak_rss_mb": round(peak_kib / 1024, 1),
    }


def throughput(count: int) -> dict[str, Any]:
    """Normalizer signals/s beside orjson.loads of the same bytes (best of three each)."""
    import orjson

    from clearance.sources.falcon.mapping import FalconNormalizer
    from clearance.sources.guardduty.mapping import GuardDutyNormalizer
    from standins.falcon import generated_alerts
    from standins.guardduty import fixture_findings, numbered

    falcon = b'{"resources":[' + b",".join(a.render() for a in generated_alerts(count)) + b"]}"
    templates = fixture_findings()
    findings = [
        numbered(templates[n % 2], n, f"2024-01-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:00Z")
        for n in range(count)
    ]
    guardduty = orjson.dumps({"findings": findings})
    results: dict[str, Any] = {}
    for name, data, normalizer in (
        ("falcon", falcon, FalconNormalizer()),
        ("guardduty", guardduty, GuardDutyNormalizer()),
    ):
        parse = min(_timed(lambda data=data: orjson.loads(data)) for _ in range(3))
        normalize = min(_timed(lambda n=normalizer, d=data: n.normalize(d)) for _ in range(3))
        produced = len(normalizer.normalize(data).signals)
        results[name] = {
            "items": count,
            "signals": produced,
            "mb": round(len(data) / 1e6, 1),
            "orjson_items_per_s": round(count / parse),
            "normalize_signals_per_s": round(produced / normalize),
            "fraction_of_parse_limit": round(parse / normalize * produced / count, 2),
        }
    return results


def _timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument(
        "--stores", nargs="*", default=["none", "sqlite", "postgres"], help="none sqlite postgres"
    )
    parser.add_argument("--throughput-items", type=int, default=10_000)
    parser.add_argument("--run", help=argparse.SUPPRESS)  # child mode: base URL
    parser.add_argument("--store-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(sync(args.run, args.store_url)))
        return

    standin = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests/standins/falcon.py"),
            "--alerts",
            str(args.alerts),
            "--devices",
            str(args.devices),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert standin.stdout is not None
        base_url = standin.stdout.readline().strip()
        report: dict[str, Any] = {"alerts": args.alerts, "devices": args.devices, "sync": {}}
        with tempfile.TemporaryDirectory() as tmp:
            postgres = os.environ.get("CLEARANCE_BENCH_POSTGRES_URL") or os.environ.get(
                "CLEARANCE_TEST_POSTGRES_URL"
            )
            urls = {"none": None, "sqlite": f"sqlite:///{tmp}/bench.db", "postgres": postgres}
            for name in args.stores:
                if name == "postgres" and not postgres:
                    report["sync"][name] = "skipped: set CLEARANCE_BENCH_POSTGRES_URL"
                    continue
                store_url = urls[name]
                child = ["--run", base_url] + (["--store-url", store_url] if store_url else [])
                report["sync"][name] = _child(child)
        report["throughput"] = throughput(args.throughput_items)
        print(json.dumps(report, indent=2))
    finally:
        standin.terminate()
        standin.wait()


if __name__ == "__main__":
    main()
