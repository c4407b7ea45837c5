"""Benchmark: the CPU cost of building one ``Signal`` (its ``__post_init__`` invariants).

Every normalizer builds one per vendor item, so the invariants sit on the hot path of
``bench/bench_normalize_push.py``. Measured in process CPU time (``time.process_time``), best of
nine, so that other work on a shared machine moves it less than wall time would. Pass another
checkout's root to compare (``--root /tmp/before`` after ``git archive <commit> src | tar -x``).

    .venv/bin/python bench/bench_signal.py [--root PATH] [--count 50000]
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from datetime import UTC, datetime
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--count", type=int, default=50_000)
    args = parser.parse_args()
    sys.path.insert(0, str(args.root / "src"))
    from clearance.model.assets import parse_asset
    from clearance.model.signal import Severity, Signal, SignalKind, SignalStatus, SignalUid

    assets = tuple(
        parse_asset(a)
        for a in ("host:node-a", "pod:shop/checkout-1", "image:ghcr.io/acme/checkout:1.0")
    )
    moment = datetime(2026, 11, 28, tzinfo=UTC)

    def build() -> Signal:
        return Signal(
            uid=SignalUid("falco:0123456789abcdef0123456789abcdef"),
            source="falco",
            kind=SignalKind.DETECTION,
            title="Terminal shell in container (user=root container=ee97d9c4186f)",
            severity=Severity.HIGH,
            confidence=1.0,
            status=SignalStatus.OPEN,
            first_seen=moment,
            last_seen=moment,
            assets=assets,
            rule="Terminal shell in container",
            techniques=("T1059",),
            raw_digest="sha256:" + "a" * 64,
            count=3,
        )

    best = min(timeit.repeat(build, number=args.count, repeat=9, timer=time.process_time))
    print(f"{args.root}: {best / args.count * 1e6:.2f} µs CPU per Signal")


if __name__ == "__main__":
    main()
