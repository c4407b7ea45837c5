"""``clearance explain``: the factor-by-factor arithmetic behind a target's score."""

from __future__ import annotations

import argparse
import sys

from clearance.cli._local import add_target_arguments, decide_locally


def register(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from clearance.render.text import render_explanation

    result = decide_locally(args)
    sys.stdout.write(render_explanation(result.decision))
    return result.decision.exit_code
