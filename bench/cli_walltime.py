"""Whole-process wall time of ``clearance check`` on the demo, beside ``python -c pass``.

Start-up is most of a CLI's cost in a pipeline, so heavy imports stay off the check path.

    python -m bench.cli_walltime [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLEARANCE = Path(sys.executable).with_name("clearance")
CHECK = [
    str(CLEARANCE),
    "check",
    "--demo",
    "--env",
    "production",
    "--cluster",
    "prod-eu",
    "--namespace",
    "shop",
    "--workload",
    "deployment/checkout",
]


def wall_times(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args, _ = parser.parse_known_args()
    baseline = wall_times([sys.executable, "-c", "pass"], args.runs)
    check = wall_times(CHECK, args.runs)
    print("| command | median ms | min ms | max ms |")
    print("|---|---:|---:|---:|")
    for name, samples in (("python -c pass", baseline), ("clearance check --demo …", check)):
        print(
            f"| `{name}` | {statistics.median(samples) * 1e3:.0f} "
            f"| {min(samples) * 1e3:.0f} | {max(samples) * 1e3:.0f} |"
        )


if __name__ == "__main__":
    main()
