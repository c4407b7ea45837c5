"""``clearance audit verify|export|replay|checkpoint|keygen``: prove the log intact and anchored,
ship it, re-run it, sign its head, make the signing key.

Exit codes: 0 the log is intact (verify) / every replay is identical (replay); 1 a problem found
or a replay that differs (the message names it); otherwise the usual error codes.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from clearance.cli._store import add_database_argument, open_from_args
from clearance.errors import ConfigError
from clearance.model.signal import parse_time

if TYPE_CHECKING:
    from clearance.audit.anchoring import Anchors
    from clearance.audit.findings import VerifyResult
    from clearance.server.settings import AuditSettings

EXIT_BROKEN = 1


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    verify = sub.add_parser(
        "verify", help="check the hash chain, its signed checkpoints and the tables against it"
    )
    add_database_argument(verify)
    verify.add_argument(
        "--export",
        "--file",
        dest="file",
        metavar="PATH",
        help="verify an unredacted `audit export` file (- for stdin) instead of the database",
    )
    verify.add_argument(
        "--public-key",
        dest="public_keys",
        metavar="PEM",
        action="append",
        default=[],
        type=Path,
        help="check checkpoint signatures with this Ed25519 public key; repeatable (rotation)",
    )
    verify.add_argument(
        "--checkpoints",
        metavar="PATH",
        type=Path,
        help="the external checkpoint copy (file or directory) kept outside the database",
    )
    verify.add_argument(
        "--max-checkpoint-age",
        metavar="DURATION",
        help="report a possible truncation when the latest checkpoint is older (e.g. 15m); "
        "default with --settings: twice its checkpoint_interval plus a minute",
    )
    verify.add_argument(
        "--settings", type=Path, help="server settings YAML: checkpoints file and interval"
    )
    verify.add_argument("--format", choices=("text", "json"), default="text")
    verify.set_defaults(run=run_verify)

    export = sub.add_parser("export", help="stream every record as JSON Lines (OPA-style)")
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

    checkpoint = sub.add_parser("checkpoint", help="sign the chain's head now (a checkpoint)")
    add_database_argument(checkpoint)
    checkpoint.add_argument("--key", type=Path, metavar="PEM", help="the Ed25519 private key")
    checkpoint.add_argument(
        "--checkpoints", type=Path, metavar="PATH", help="also append it to this external copy"
    )
    checkpoint.add_argument(
        "--settings", type=Path, help="server settings YAML: server.audit key and copy"
    )
    checkpoint.set_defaults(run=run_checkpoint)

    keygen = sub.add_parser("keygen", help="make an Ed25519 key pair for signing checkpoints")
    keygen.add_argument("path", type=Path, help="private key file to create (PATH.pub beside it)")
    keygen.set_defaults(run=run_keygen)


def _audit_settings(path: Path | None) -> AuditSettings | None:
    if path is None:
        return None
    from clearance.server.settings import load_settings

    return load_settings(path).audit


def _duration(text: str, flag: str) -> timedelta:
    from clearance.policy.schema import duration_seconds

    try:
        return timedelta(seconds=duration_seconds(text))
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from exc


def _anchors(args: argparse.Namespace, now: datetime) -> Anchors:
    from clearance.audit.anchoring import Anchors
    from clearance.audit.checkpoints import read_external
    from clearance.audit.signing import PublicKeys

    settings = _audit_settings(args.settings)
    copy = args.checkpoints or (settings.checkpoints_file if settings else None)
    external, unreadable = read_external(copy) if copy is not None else ([], [])
    max_age = None
    if args.max_checkpoint_age:
        max_age = _duration(args.max_checkpoint_age, "--max-checkpoint-age")
    elif settings is not None and settings.signing_key is not None:
        interval = _duration(settings.checkpoint_interval, "server.audit.checkpoint_interval")
        max_age = 2 * interval + timedelta(minutes=1)
    return Anchors(
        keys=PublicKeys.from_files(args.public_keys) if args.public_keys else None,
        external=tuple(external),
        external_problems=tuple(unreadable),
        max_age=max_age,
        now=now,
    )


def run_verify(args: argparse.Namespace) -> int:
    anchors = _anchors(args, datetime.now(UTC))
    if args.file:
        from clearance.audit.export import verify_export

        given = anchors if anchors.keys or anchors.external else None
        if args.file == "-":
            result = verify_export(sys.stdin, given)
        else:
            with Path(args.file).open(encoding="utf-8") as lines:
                result = verify_export(lines, given)
    else:
        from clearance.audit.verify import verify

        store = open_from_args(args, create=False)
        try:
            result = verify(store, anchors)
        finally:
            store.close()
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_verify(result)
    return 0 if result.ok else EXIT_BROKEN


def _print_verify(result: VerifyResult) -> None:
    counts = ", ".join(f"{kind}={n}" for kind, n in sorted(result.counts.items()))
    if result.ok:
        print(f"ok: {result.records} records, head {result.head_hash}")
        if counts:
            print(f"records by kind: {counts}")
        for note in result.notes:
            print(f"note: {note}")
        return
    lines = [f"broken: {finding}" for finding in result.findings]
    if result.broken is not None:
        lines.append(
            f"{result.records} records before it are intact (last good hash {result.head_hash})."
        )
    else:
        lines.append(f"{result.records} records walked, head {result.head_hash}.")
    lines += [f"note: {note}" for note in result.notes]
    print("\n".join(lines), file=sys.stderr)


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


def run_checkpoint(args: argparse.Namespace) -> int:
    from clearance.audit.checkpointer import Checkpointer
    from clearance.audit.checkpoints import Mirror
    from clearance.audit.signing import Ed25519FileSigner
    from clearance.store.interface import SchemaError

    settings = _audit_settings(args.settings)
    key = args.key or (settings.signing_key if settings else None)
    if key is None:
        raise ConfigError("audit checkpoint needs --key PEM (or --settings with server.audit)")
    copy = args.checkpoints or (settings.checkpoints_file if settings else None)
    signer = Ed25519FileSigner.from_file(key)
    store = open_from_args(args, create=False)
    try:
        if not store.ready():
            raise SchemaError(
                "audit checkpoint needs the current schema (checkpoints arrived with 0005); "
                "start `clearance serve` once (it migrates), then try again"
            )
        mirror = Mirror(copy) if copy is not None else None
        checkpoint = Checkpointer(store, signer, mirror=mirror).write(datetime.now(UTC))
    finally:
        store.close()
    print(
        f"checkpoint: seq {checkpoint.seq}, head {checkpoint.head_hash}, "
        f"signed by {checkpoint.key_id}" + (f", copied to {copy}" if copy else "")
    )
    return 0


def run_keygen(args: argparse.Namespace) -> int:
    from clearance.audit.signing import generate

    public, key_id = generate(args.path)
    print(f"private key {args.path} (mode 0600): give it to the service only, never the database")
    print(f"public key  {public}: verifiers need only this ({key_id})")
    return 0
