"""Whole-process wall and CPU time of ``clearance check``, beside ``python -c pass``.

Start-up is most of a CLI's cost in a pipeline, so heavy imports stay off the check path. Two
checks: ``--demo`` (writes the demo's files, then decides) and ``--config`` with the shipped
``examples/clearance.yaml``, as a pipeline runs it. CPU time (user + system, from the child's
resource usage) is the steadier number on a machine shared with other work; wall time is what a
pipeline waits.

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
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLEARANCE = Path(sys.executable).with_name("clearance")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "clearance.yaml"
TARGET = ["--env", "production", "--cluster", "prod-eu", "--namespace", "shop"]
TARGET += ["--workload", "deployment/checkout"]
CHECK = [str(CLEARANCE), "check", "--demo", *TARGET]
# A fixed --now: the example's signals are dated, and the verdict should not drift with the day.
CHECK_CONFIG = [str(CLEARANCE), "check", "--config", str(EXAMPLE), *TARGET]
CHECK_CONFIG += ["--now", "2026-12-06T12:00:00Z"]


Case = tuple[str, list[str], dict[str, str]]
Samples = dict[str, tuple[list[float], list[float]]]  # name → (wall seconds, CPU seconds)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall_times(cases: list[Case], runs: int) -> Samples:
    for name, command, env in cases:  # writes the bytecode the timed runs read
        warm = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        done = subprocess.run(command, capture_output=True, check=False, env=warm, text=True)
        if done.returncode not in (0, 10, 20):  # a verdict; anything else would time a failure
            raise SystemExit(f"{name} exited {done.returncode}:\n{done.stderr}")
    times: Samples = {name: ([], []) for name, _, _ in cases}
    for _ in range(runs):
        for name, command, env in cases:
            cpu = _children_cpu()
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=False, env=env)
            times[name][0].append(time.perf_counter() - start)
            times[name][1].append(_children_cpu() - cpu)
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
        ("clearance check --config examples/clearance.yaml …", CHECK_CONFIG, env),
    ]
    if args.baseline is not None:
        source = str((args.baseline / "src").resolve())
        before = {**env, "PYTHONPATH": source}
        cases.append(("baseline: clearance check --demo …", CHECK, before))
        cases.append(("baseline: clearance check --config …", CHECK_CONFIG, before))
    print("| command | wall median ms | wall min–max ms | CPU median ms | CPU min ms |")
    print("|---|---:|---:|---:|---:|")
    for name, (wall, cpu) in wall_times(cases, args.runs).items():
        print(
            f"| `{name}` | {statistics.median(wall) * 1e3:.0f} "
            f"| {min(wall) * 1e3:.0f}–{max(wall) * 1e3:.0f} "
            f"| {statistics.median(cpu) * 1e3:.0f} | {min(cpu) * 1e3:.0f} |"
        )


if __name__ == "__main__":
    main()
