"""``clearance tokens create|list|revoke``: API tokens for the service, stored hashed.

``create`` prints the secret once, on stdout, alone on its line (so ``$(clearance tokens create
…)`` captures it); it cannot be shown again: only its sha256 is kept. ``--owner`` names the
person (principal) the token belongs to, recorded as the caller whichever of their tokens they
use; without it the token is owned by the person its name names.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from clearance.cli._store import add_database_argument, open_from_args
from clearance.errors import ConfigError, InvalidPrincipalError
from clearance.model.signal import format_time, parse_time
from clearance.store.interface import Scope, TokenInfo, token_owner


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)

    create = sub.add_parser("create", help="make a token; print its secret once")
    add_database_argument(create)
    create.add_argument("name", help="who or what uses it (e.g. ci-deploy)")
    create.add_argument(
        "--owner",
        metavar="PRINCIPAL",
        help="the person it belongs to: NAME (a person, user:NAME) or NAMESPACE:NAME "
        "(default: the token's name)",
    )
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=True,
        choices=[s.value for s in Scope],
        help="a permission; repeat for several",
    )
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in", metavar="DURATION", help="e.g. 90d, 12h")
    expiry.add_argument("--expires-at", metavar="RFC3339")
    create.set_defaults(run=run_create)

    listing = sub.add_parser("list", help="list tokens (never their secrets)")
    add_database_argument(listing)
    listing.set_defaults(run=run_list)

    revoke = sub.add_parser("revoke", help="revoke a token by id")
    add_database_argument(revoke)
    revoke.add_argument("token_id", metavar="ID")
    revoke.set_defaults(run=run_revoke)


def _expiry(args: argparse.Namespace, now: datetime) -> datetime | None:
    from clearance.policy.schema import duration_seconds

    if args.expires_at:
        return parse_time(args.expires_at)
    if args.expires_in:
        try:
            return now + timedelta(seconds=duration_seconds(args.expires_in))
        except ValueError as exc:
            raise ConfigError(f"--expires-in: {exc}") from exc
    return None


def run_create(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    try:
        token_owner(args.owner, args.name)
    except InvalidPrincipalError as exc:
        raise ConfigError(f"--owner: {exc}") from exc
    store = open_from_args(args, create=True)
    try:
        info, secret = store.create_token(
            args.name,
            [Scope(s) for s in args.scopes],
            now,
            _expiry(args, now),
            owner=args.owner,
            by=local_user(),
        )
    finally:
        store.close()
    print(f"created {describe(info)}", file=sys.stderr)
    print("Store the secret now: it is not shown again.", file=sys.stderr)
    print(secret)
    return 0


def run_list(args: argparse.Namespace) -> int:
    store = open_from_args(args, create=False)
    try:
        tokens = store.list_tokens()
    finally:
        store.close()
    for info in tokens:
        print(describe(info))
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    store = open_from_args(args, create=False)
    try:
        info = store.revoke_token(args.token_id, datetime.now(UTC), by=local_user())
    finally:
        store.close()
    print(f"revoked {describe(info)}")
    return 0


def local_user() -> str:
    """Who ran the command, as its record in the audit chain names them: ``local:<user>``."""
    import getpass

    try:
        return "local:" + getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "local:unknown"


def describe(info: TokenInfo) -> str:
    def when(moment: datetime | None) -> str:
        return "-" if moment is None else format_time(moment)

    scopes = ",".join(sorted(s.value for s in info.scopes))
    state = "revoked " + when(info.revoked_at) if info.revoked_at else "active"
    return (
        f"{info.id}  {info.name}  owner={info.principal}  scopes={scopes}  "
        f"created={when(info.created_at)}  "
        f"expires={when(info.expires_at)}  last_used={when(info.last_used_at)}  {state}"
    )
