"""``clearance approve ID --reason …`` and ``clearance reject ID --reason …`` on the service.

The caller's identity comes from ``$CLEARANCE_TOKEN``; the service refuses whoever requested the
decision, someone outside the environment's approval group, and a second answer by one person.
The decision's standing afterwards is rendered as ``check --server`` renders it.
"""

from __future__ import annotations

import argparse
import os
import sys

from clearance.cli._service import add_server_argument, connect
from clearance.errors import ConfigError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("decision_id", metavar="ID", help="the decision (dec_…)")
    parser.add_argument("--reason", required=True, help="why (recorded with your name)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_server_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from clearance.model.canonical import canonical_json
    from clearance.render.output import document
    from clearance.render.text import render_standing

    outcome = "reject" if _invoked_as(args) == "reject" else "approve"
    if not args.reason.strip():
        raise ConfigError("--reason must say why")
    with connect(args, os.environ) as service:
        approval, after = service.answer(args.decision_id, outcome, args.reason)
    if args.format == "json":
        body = {"approval": approval, "decision": document(after.decision, after.standing)}
        sys.stdout.write(canonical_json(body).decode() + "\n")
        return 0
    print(f"{approval['outcome']}d {args.decision_id} as {approval['approver']}")
    sys.stdout.write(render_standing(after.decision, after.standing))
    return 0


def _invoked_as(args: argparse.Namespace) -> str:
    return str(getattr(args, "command", "approve"))
