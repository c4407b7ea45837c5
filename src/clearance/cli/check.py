"""``clearance check``: decide one deploy; exit 0 proceed, 10 approve, 20 block.

Locally (``clearance.yaml``, or ``--demo``) or, with ``--server URL`` or ``$CLEARANCE_SERVER``,
by the service through :mod:`clearance.client`: the same target flags, the same renderers
(``--format text|json|github|sarif|junit``, ``--explain``) and the same exit codes. A decision
the service answered also says where it stands there; the exit code is then its standing's (an
``approve`` verdict with enough approvals is ``approved``, exit 0).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

from clearance.cli._local import add_target_arguments, decide_locally
from clearance.cli._service import add_check_arguments, remote
from clearance.render.output import emit

if TYPE_CHECKING:
    from clearance.model.decision import Decision
    from clearance.model.standing import Standing


class Checked(msgspec.Struct, frozen=True):
    """A decision, and where it stands on the service when the service made it."""

    decision: Decision
    standing: Standing | None = None

    @property
    def exit_code(self) -> int:
        if self.standing is not None:
            return self.standing.exit_code
        return self.decision.exit_code


def register(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument(
        "--format",
        choices=("text", "json", "github", "sarif", "junit"),
        default="text",
        help="text (default); json; github (annotations, outputs, step summary); sarif "
        "(SARIF 2.1.0 for GitHub code scanning); junit (JUnit XML for GitLab and Jenkins)",
    )
    parser.add_argument("--explain", action="store_true", help="also show the score's arithmetic")
    add_check_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    checked = check(args)
    manifest = str(args.manifest) if getattr(args, "manifest", None) else None
    emit(
        checked.decision,
        args.format,
        explain=args.explain,
        standing=checked.standing,
        manifest=manifest,
    )
    return checked.exit_code


def check(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> Checked:
    """Decide as the flags say: by the service when one is named, else locally."""
    if remote(args, env):
        from clearance.cli._service import ask

        return ask(args, env)
    return Checked(decide_locally(args).decision)
