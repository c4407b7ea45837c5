"""``clearance check``: decide one deploy; exit 0 proceed, 10 approve, 20 block."""

from __future__ import annotations

import argparse

from clearance.cli._local import add_target_arguments, decide_locally
from clearance.render.output import emit


def register(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--format", choices=("text", "json", "github"), default="text")
    parser.add_argument("--explain", action="store_true", help="also show the score's arithmetic")
    from clearance.cli._remote_check import add_server_arguments

    add_server_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "server", None):
        from clearance.cli._remote_check import check_remotely

        return check_remotely(args)
    result = decide_locally(args)
    emit(result.decision, args.format, explain=args.explain)
    return result.decision.verdict.exit_code
