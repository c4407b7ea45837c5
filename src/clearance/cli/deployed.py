"""``clearance deployed ID``: tell the service that decision ID's deploy happened, so the target
is watched after the deploy (an alert when it would be blocked on new evidence).

Admission, Argo and Flagger note their deploys themselves; a pipeline that deploys some other
way (``kubectl apply`` after ``check --server``) calls this after its deploy step.
"""

from __future__ import annotations

import argparse
import json
import os

from clearance.cli._service import add_server_argument, connect


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("decision_id", metavar="ID", help="the decision (dec_…) that was deployed")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_server_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with connect(args, os.environ) as service:
        noted = service.call("POST", f"/v1/decisions/{args.decision_id}/deployed")
    if args.format == "json":
        print(json.dumps(noted, sort_keys=True))
        return 0
    d = noted["deployment"]
    t = d["target"]
    watched = "watched" if noted.get("watched") else "noted (watching is off on the service)"
    print(
        f"deployed {args.decision_id}: {t['environment']} · {t['cluster']}/{t['namespace']}/"
        f"{t['workload']} {watched}"
    )
    return 0
