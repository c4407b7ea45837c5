"""Whole-process wall time of ``clearance check`` on the demo, beside ``python -c pass``.

Start-up is most of a CLI's cost in a pipeline, so heavy imports stay off the check path.

    python -m bench.cli_walltime [--runs 20] [--baseline DIR]

``--baseline DIR``: also time the same command on another tree's ``DIR/src`` (e.g. ``git archive
main src | tar -x -C DIR``), run by this interpreter, interleaved with this tree's runs so both
see the same machine load. Each command runs once first with bytecode writing allowed, as an
installed package has its ``.pyc`` files (an environment with ``PYTHONDONTWRITEBYTECODE`` would
otherwise time the compiler).
"""

from __future__ import annotations

import argparse
import os
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


Case = tuple[str, list[str], dict[str, str]]


def wall_times(cases: list[Case], runs: int) -> dict[str, list[float]]:
    for _, command, env in cases:  # writes the bytecode the timed runs read
        warm = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(command, capture_output=True, check=False, env=warm)
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for _ in range(runs):
        for name, command, env in cases:
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=False, env=env)
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="another tree, its src/ timed beside")
    args, _ = parser.parse_known_args()
    env = dict(os.environ)
    cases: list[Case] = [
        ("python -c pass", [sys.executable, "-c", "pass"], env),
        ("clearance check --demo …", CHECK, env),
    ]
    if args.baseline is not None:
        source = str((args.baseline / "src").resolve())
        before = {**env, "PYTHONPATH": source}
        cases.append(("baseline: clearance check --demo …", CHECK, before))
    print("| command | median ms | min ms | max ms |")
    print("|---|---:|---:|---:|")
    for name, samples in wall_times(cases, args.runs).items():
        print(
            f"| `{name}` | {statistics.median(samples) * 1e3:.0f} "
            f"| {min(samples) * 1e3:.0f} | {max(samples) * 1e3:.0f} |"
        )


if __name__ == "__main__":
    main()
