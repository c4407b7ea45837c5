"""``clearance ingest --format NAME FILE…``: store a platform's own export as the live path would.

How users try Clearance on exports from their platforms: each file (``-`` for stdin) is read
whole, normalized by the format's adapter, and stored with ``store_batch`` (signals upserted,
bad items quarantined and counted, the source's freshness recorded). ``--format kev`` stores the
CISA KEV catalog and re-enriches the stored image vulnerabilities with it.

Exit 0 when every file was read (quarantined items are reported, not fatal: their neighbours are
stored); 2 for a bad flag or a file that cannot be read (nothing is stored then); 5 when a
``kev`` file is not a catalog at all.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from clearance.cli._local import now_from
from clearance.cli._store import add_database_argument
from clearance.errors import ConfigError
from clearance.sources.formats import format_names


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", required=True, choices=format_names(), help="the platform's payload format"
    )
    parser.add_argument(
        "--source", help="source name the signals are stored under (default: the format name)"
    )
    parser.add_argument(
        "--cluster",
        help="cluster of the events (falco, ocsf, trivy, alertmanager): not all formats carry it",
    )
    parser.add_argument(
        "--hostname-is-node",
        action="store_true",
        default=None,
        help="falco: the event's hostname is the Kubernetes node name",
    )
    parser.add_argument("--now", help="store as of this RFC 3339 time (default: now)")
    add_database_argument(parser)
    parser.add_argument("files", nargs="+", metavar="FILE", help="export files; - for stdin")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from clearance.ingest.storing import store_batch, store_document
    from clearance.sources.formats import DOCUMENT_FORMATS, make_normalizer
    from clearance.store import database_url
    from clearance.store.sql import SqlStore

    now = now_from(args)
    # Every option is checked, and every file read, before the store is touched.
    document = args.format in DOCUMENT_FORMATS
    if document and (args.source or args.cluster or args.hostname_is_node):
        raise ConfigError(
            f"--format {args.format} takes no --source, --cluster or --hostname-is-node"
        )
    options = {"cluster": args.cluster, "hostname_is_node": args.hostname_is_node}
    make_normalizer(args.format, source=args.source, **options)  # refuses options it does not take
    bodies = [(name, _read(name)) for name in args.files]
    store = SqlStore.open(database_url(args.database))
    try:
        for name, data in bodies:
            if document:
                # Not the document (a proxy's page): SourceError, and the stored copy is kept.
                stored = store_document(store, args.format, data, now, source=args.format)
                print(
                    f"{name}: {args.format} reference stored ({stored.entries} entries); "
                    f"{stored.known_exploited} known-exploited signal(s) raised, "
                    f"{stored.updated} stored signal(s) updated, {stored.quarantined} quarantined"
                )
                continue
            # A Trivy report without CreatedAt is dated by its file (stdin: --now).
            dated = {"scanned_at": _modified(name, now)} if args.format == "trivy" else {}
            normalizer = make_normalizer(args.format, source=args.source, **options, **dated)
            batch = normalizer.normalize(data, location=name)
            stored = store_batch(store, batch, args.source or args.format, now)
            line = f"{name}: {stored.signals} signal(s) stored as {stored.source!r}"
            if stored.known_exploited:
                line += f", {stored.known_exploited} known-exploited (CISA KEV)"
            line += f", {stored.quarantined} quarantined"
            skipped = getattr(normalizer, "skipped", None)
            if skipped:
                line += " (not findings: "
                line += ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())) + ")"
            print(line)
    finally:
        store.close()
    return 0


def _modified(name: str, now: datetime) -> datetime:
    if name == "-":
        return now
    return datetime.fromtimestamp(Path(name).stat().st_mtime, UTC)


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror or exc}") from exc
