"""``clearance approve ID --reason …`` and ``clearance reject ID --reason …`` on the service.

The caller's identity comes from ``$CLEARANCE_TOKEN``; the service refuses whoever requested the
decision, someone outside the environment's approval group, and a second answer by one person.
"""

from __future__ import annotations

import argparse
import json
import sys

from clearance.cli._remote import Remote, add_server_argument, render
from clearance.errors import ConfigError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("decision_id", metavar="ID", help="the decision (dec_…)")
    parser.add_argument("--reason", required=True, help="why (recorded with your name)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_server_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    outcome = "reject" if _invoked_as(args) == "reject" else "approve"
    if not args.reason.strip():
        raise ConfigError("--reason must say why")
    remote = Remote.from_args(args)
    try:
        answer = remote.call(
            "POST",
            f"/v1/decisions/{args.decision_id}/approvals",
            json={"outcome": outcome, "reason": args.reason},
        )
    finally:
        remote.close()
    if args.format == "json":
        sys.stdout.write(json.dumps(answer, sort_keys=True) + "\n")
    else:
        approval = answer["approval"]
        print(f"{approval['outcome']}d {args.decision_id} as {approval['approver']}")
        sys.stdout.write(render(answer["decision"]))
    return 0


def _invoked_as(args: argparse.Namespace) -> str:
    return str(getattr(args, "command", "approve"))
