"""``clearance deployed ID``: tell the service that decision ID's deploy happened, so the target
is watched after the deploy (an alert when it would be blocked on new evidence).

Admission, Argo and Flagger note their deploys themselves; a pipeline that deploys some other
way (``kubectl apply`` after ``check --server``) calls this after its deploy step.

``--check junit:smoke.xml`` also records the smoke tests run after the deploy: their failures
count in the next decision of the same target, and of the same release (image digests) in other
environments (``health`` signals, rule ``smoke``; docs/evidence.md).
"""

from __future__ import annotations

import argparse
import json
import os

from clearance.cli._local import evidence_from
from clearance.cli._service import add_server_argument, connect
from clearance.errors import ConfigError
from clearance.model.reports import ReportFormat


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("decision_id", metavar="ID", help="the decision (dec_…) that was deployed")
    parser.add_argument(
        "--check",
        action="append",
        metavar="junit:FILE",
        help="a post-deploy check's JUnit report (smoke tests) to record; repeatable",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_server_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    reports = evidence_from(args, "check")  # a bad report stops here, before anything is noted
    for report, _ in reports:
        if report.format is not ReportFormat.JUNIT:
            raise ConfigError(f"--check {report.name}: a post-deploy check is a test report: junit")
    with connect(args, os.environ) as service:
        noted = service.call("POST", f"/v1/decisions/{args.decision_id}/deployed")
        noted["checks"] = [
            service.call(
                "POST",
                f"/v1/decisions/{args.decision_id}/checks",
                json={"report": {"format": r.format.value, "name": r.name, "content": text}},
            )["check"]
            for r, text in reports
        ]
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
    for check in noted["checks"]:
        print(f"check {check['id']}: {check['summary']}")
    return 0
