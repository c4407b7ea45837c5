"""``clearance demo``: decide each built-in demo target and print the verdicts."""

from __future__ import annotations

import argparse
import sys

from clearance.cli._local import add_run_arguments, decide_locally
from clearance.model.target import Target


def register(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.set_defaults(run=run, demo=True)


def run(args: argparse.Namespace) -> int:
    from clearance import demo
    from clearance.render.text import render_text

    args.demo = True
    for i, t in enumerate(demo.targets(), start=1):
        target = Target.of(t.environment, t.cluster, t.namespace, t.workload)
        result = decide_locally(args, target)
        print(f"── demo {i}: {t.shows}")
        print(
            f"   $ clearance check --demo --env {t.environment} --cluster {t.cluster} "
            f"--namespace {t.namespace} --workload {t.workload}"
        )
        sys.stdout.write(render_text(result.decision))
        print()
    print("Try one yourself, e.g. the first with --explain or --format json.")
    return 0
