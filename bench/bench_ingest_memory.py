"""Peak memory of ``clearance ingest`` on a large Falco JSON Lines export (issue 12).

    python -m bench.bench_ingest_memory [--size MB] [--pods N]

Generates a Falco export of ``--size`` MB (default 1,024) in a temporary directory, from the
real events in tests/fixtures/falco (each line one of them, re-dated and moved to one of
``--pods`` pods, as a busy cluster's Falco repeats its rules), ingests it with the real
``clearance ingest --format falco`` into a fresh SQLite store in a subprocess, and reports the
subprocess's peak RSS (``wait4``'s ``ru_maxrss``), its wall time and what it stored. Everything
is deleted afterwards. Target: peak RSS under 300 MB whatever the size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests/fixtures/falco/events.syscall-k8s.falco-website.jsonl"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TARGET_MB = 300


def generate(path: Path, size_mb: int, pods: int) -> int:
    """Write about ``size_mb`` MB of Falco events to ``path``; the number of lines written."""
    templates = [json.loads(line) for line in EVENTS.read_text().splitlines() if line.strip()]
    limit = size_mb * 1024 * 1024
    start = NOW - timedelta(days=1)
    written = lines = 0
    with path.open("w", encoding="utf-8") as out:
        while written < limit:
            event = dict(templates[lines % len(templates)])
            fields = dict(event.get("output_fields") or {})
            pod = lines % pods  # the pod fixes its namespace, node and container
            fields["k8s.pod.name"] = f"bench-{pod}"
            fields["k8s.ns.name"] = f"ns-{pod % 97}"
            fields["container.id"] = f"{pod:012x}"
            event["output_fields"] = fields
            event["hostname"] = f"node-{pod % 211}"
            # Spread over the last day, at a millisecond per event: later ones fold in.
            event["time"] = (start + timedelta(milliseconds=lines % 86_000_000)).isoformat()
            text = json.dumps(event) + "\n"
            out.write(text)
            written += len(text)
            lines += 1
    return lines


def ingest(path: Path, database: str) -> tuple[int, float, int, str]:
    """Run the real command; (exit code, seconds, peak RSS in KiB, its stdout+stderr)."""
    command = [
        sys.executable, "-m", "clearance", "ingest", "--format", "falco", "--cluster", "bench",
        "--database", database, "--now", NOW.isoformat().replace("+00:00", "Z"), str(path),
    ]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.monotonic() - started, usage.ru_maxrss, output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="export size in MB (default 1024)")
    parser.add_argument("--pods", type=int, default=5000, help="distinct pods (default 5000)")
    parser.add_argument("--dir", type=Path, help="where to write the export (default: $TMPDIR)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clearance-bench-ingest-", dir=args.dir))
    try:
        export = work / "falco.jsonl"
        started = time.monotonic()
        lines = generate(export, args.size, args.pods)
        size = export.stat().st_size
        took = time.monotonic() - started
        print(f"generated {size / 1e6:,.0f} MB, {lines:,} events in {took:.0f} s")
        code, seconds, rss_kib, output = ingest(export, f"sqlite:///{work / 'store.db'}")
        print(output.strip())
        peak_mb = rss_kib / 1024
        print(
            f"ingest: exit {code}, {seconds:.0f} s ({size / 1e6 / seconds:.1f} MB/s, "
            f"{lines / seconds:,.0f} events/s), peak RSS {peak_mb:.0f} MiB "
            f"(target < {TARGET_MB} MiB: {'met' if peak_mb < TARGET_MB else 'NOT met'})"
        )
        return 0 if code == 0 and peak_mb < TARGET_MB else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
