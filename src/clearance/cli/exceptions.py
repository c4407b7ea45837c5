"""``clearance exceptions create|list|revoke``: finding- and target-scoped waivers on the service.

Creating and revoking need the ``admin`` scope; the approver recorded is the caller.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from clearance.cli._service import add_server_argument, connect
from clearance.errors import ConfigError
from clearance.model.signal import format_time, parse_time


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="exceptions_command", metavar="ACTION", required=True)

    create = sub.add_parser("create", help="waive one finding on one target until it expires")
    what = create.add_mutually_exclusive_group(required=True)
    what.add_argument("--signal", metavar="UID", help="the signal uid to waive")
    what.add_argument("--rule", help="the policy or vendor rule to waive")
    create.add_argument("--env", required=True)
    create.add_argument("--cluster", required=True)
    create.add_argument("--namespace", required=True)
    create.add_argument("--workload", required=True, metavar="KIND/NAME")
    expiry = create.add_mutually_exclusive_group(required=True)
    expiry.add_argument("--expires-in", metavar="DURATION", help="e.g. 7d, 12h")
    expiry.add_argument("--expires-at", metavar="RFC3339")
    create.add_argument("--reason", required=True)
    create.add_argument("--ticket", required=True)
    create.add_argument("--id", help="an id of your choosing (default: generated)")
    add_server_argument(create)
    create.set_defaults(run=run_create)

    listing = sub.add_parser("list", help="list active exceptions (--all: also expired, revoked)")
    listing.add_argument("--all", action="store_true")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    add_server_argument(listing)
    listing.set_defaults(run=run_list)

    revoke = sub.add_parser("revoke", help="revoke an exception by id")
    revoke.add_argument("exception_id", metavar="ID")
    add_server_argument(revoke)
    revoke.set_defaults(run=run_revoke)


def _expires(args: argparse.Namespace) -> str:
    from clearance.policy.schema import duration_seconds

    try:
        if args.expires_at:
            return format_time(parse_time(args.expires_at))
        return format_time(datetime.now(UTC) + timedelta(seconds=duration_seconds(args.expires_in)))
    except ValueError as exc:
        raise ConfigError(f"--expires-in/--expires-at: {exc}") from exc


def _call(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> Any:
    with connect(args, os.environ) as service:
        return service.call(method, path, **kwargs)


def describe(e: dict[str, Any]) -> str:
    finding = f"signal {e['signal']}" if e.get("signal") else f"rule {e.get('rule')}"
    state = "active" if e["active"] else ("revoked" if e.get("revoked_at") else "expired")
    return (
        f"{e['id']}  {finding}  on {e['environment']} {e['cluster']}/{e['namespace']}/"
        f"{e['workload']}  until {e['expires']}  ticket {e['ticket']}  by {e['approver']}  "
        f"{state}: {e['reason']}"
    )


def run_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "environment": args.env,
        "cluster": args.cluster,
        "namespace": args.namespace,
        "workload": args.workload,
        "expires": _expires(args),
        "reason": args.reason,
        "ticket": args.ticket,
    }
    for name in ("signal", "rule", "id"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    created = _call(args, "POST", "/v1/exceptions", json=body)
    print(f"created {describe(created['exception'])}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    found = _call(args, "GET", "/v1/exceptions", params={"include_inactive": args.all})
    if args.format == "json":
        sys.stdout.write(json.dumps(found, sort_keys=True) + "\n")
        return 0
    for e in found["exceptions"]:
        print(describe(e))
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    revoked = _call(args, "DELETE", f"/v1/exceptions/{args.exception_id}")
    print(f"revoked {describe(revoked['exception'])}")
    return 0
