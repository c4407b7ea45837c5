"""``clearance report shadow``: what shadow-mode environments would have done, from the log.

Reads the decision log (``--database``) and the approvals given on it; the figures are
described in :mod:`clearance.audit.shadow` and docs/shadow-mode.md. ``--now`` fixes the end of
the window (default: the clock), so a report can be reproduced.
"""

from __future__ import annotations

import argparse
import json

from clearance.cli._store import add_database_argument, open_from_args
from clearance.cli._window import add_window_arguments, window


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="report_command", metavar="REPORT", required=True)
    shadow = sub.add_parser(
        "shadow", help="would-have verdicts, approvals, stances and noisy signals in shadow mode"
    )
    add_database_argument(shadow)
    add_window_arguments(shadow, "14d")
    shadow.add_argument("--environment", metavar="E", help="only this environment")
    shadow.add_argument("--format", choices=("text", "json"), default="text")
    shadow.set_defaults(run=run_shadow)


def run_shadow(args: argparse.Namespace) -> int:
    from clearance.audit.shadow import render_text, shadow_report

    since, until = window(args)
    store = open_from_args(args, create=False)
    try:
        report = shadow_report(
            store.iter_records(since=since),
            store.list_approvals,
            since,
            until,
            args.environment,
        )
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        print(render_text(report), end="")
    return 0
