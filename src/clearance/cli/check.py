"""``clearance check``: decide one deploy; exit 0 proceed, 10 approve, 20 block."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from clearance.cli._local import add_target_arguments, decide_locally
from clearance.model.decision import Decision


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


def emit(decision: Decision, fmt: str, *, explain: bool = False) -> None:
    from clearance.render import github, text

    if fmt == "json":
        sys.stdout.write(decision.to_json().decode() + "\n")
        return
    sys.stdout.write(text.render_text(decision))
    if explain:
        sys.stdout.write("\n" + text.render_explanation(decision))
    if fmt == "github":
        sys.stdout.write(github.annotation_lines(decision))
        _append("GITHUB_OUTPUT", github.outputs(decision))
        _append("GITHUB_STEP_SUMMARY", github.summary(decision))


def _append(variable: str, content: str) -> None:
    path = os.environ.get(variable)
    if not path:
        print(f"clearance: warning: ${variable} is not set; not writing it", file=sys.stderr)
        return
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(content)
