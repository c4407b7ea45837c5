"""``clearance audit verify|export|replay``: prove the decision log intact, ship it, re-run it.

Exit codes: 0 the log is intact (verify) / every replay is identical (replay); 1 a broken record
or a replay that differs (the message names it); otherwise the usual error codes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clearance.cli._store import add_database_argument, open_from_args
from clearance.model.signal import parse_time

EXIT_BROKEN = 1


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    verify = sub.add_parser("verify", help="walk the hash chain; name the first broken record")
    add_database_argument(verify)
    verify.add_argument(
        "--file",
        metavar="PATH",
        help="verify an unredacted `audit export` file (- for stdin) instead of the database",
    )
    verify.set_defaults(run=run_verify)

    export = sub.add_parser("export", help="stream records as JSON Lines (OPA decision-log style)")
    add_database_argument(export)
    export.add_argument("--since", metavar="RFC3339", help="only records at or after this time")
    export.add_argument("--format", choices=("jsonl",), default="jsonl")
    export.add_argument(
        "--redact",
        metavar="PATH",
        action="append",
        default=[],
        help="also remove this dotted path from each record (e.g. caller.subject); repeatable",
    )
    export.set_defaults(run=run_export)

    replay = sub.add_parser("replay", help="re-run decide on a recorded snapshot; diff the bytes")
    add_database_argument(replay)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("decision_id", nargs="?", metavar="ID", help="the decision to replay")
    which.add_argument("--all", action="store_true", help="replay every recorded decision")
    replay.set_defaults(run=run_replay)


def run_verify(args: argparse.Namespace) -> int:
    if args.file:
        from clearance.audit.export import verify_export

        if args.file == "-":
            result = verify_export(sys.stdin)
        else:
            with Path(args.file).open(encoding="utf-8") as lines:
                result = verify_export(lines)
    else:
        from clearance.audit.verify import verify

        store = open_from_args(args, create=False)
        try:
            result = verify(store)
        finally:
            store.close()
    if result.broken is None:
        print(f"ok: {result.records} records, head {result.head_hash}")
        return 0
    print(
        f"broken: {result.broken}\n"
        f"{result.records} records before it are intact (last good hash {result.head_hash}).",
        file=sys.stderr,
    )
    return EXIT_BROKEN


def run_export(args: argparse.Namespace) -> int:
    from clearance.audit.export import DEFAULT_REDACT, export

    since = None if args.since is None else parse_time(args.since)
    store = open_from_args(args, create=False)
    try:
        for line in export(store, since=since, redact=(*DEFAULT_REDACT, *args.redact)):
            sys.stdout.write(line + "\n")
    finally:
        store.close()
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from clearance.audit.replay import replay, replay_all

    store = open_from_args(args, create=False)
    try:
        results = replay_all(store) if args.all else iter([replay(store, args.decision_id)])
        replayed = differ = 0
        for result in results:
            replayed += 1
            if result.identical:
                print(f"identical: {result.decision_id}")
            else:
                differ += 1
                print(f"differs: {result.decision_id}")
                sys.stdout.write(result.diff)
    finally:
        store.close()
    print(f"{replayed} replayed, {differ} differ", file=sys.stderr)
    return EXIT_BROKEN if differ else 0
