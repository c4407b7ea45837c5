"""``clearance ingest --format NAME FILE…``: store a platform's own export as the live path would.

How users try Clearance on exports from their platforms: each file (``-`` for stdin) is
normalized by the format's adapter and stored with ``store_batch`` (signals upserted, bad items
quarantined and counted, the source's freshness recorded). JSON Lines are streamed: read, normalized
and stored a few MB at a time (:mod:`clearance.ingest.reading`), so memory stays bounded
whatever the file's size; a single JSON document is read whole. On a terminal, a progress line
on stderr says how far it got. ``-v``/``--show-quarantined`` prints each quarantined item as
``file:line: reason: detail``. ``--format kev`` stores the CISA KEV catalog (and says how many
CVEs) and re-enriches the stored image vulnerabilities with it.

Exit 0 when every file was read (quarantined items are reported, not fatal: their neighbours are
stored); 2 for a bad flag or a file that cannot be opened (nothing is stored then); 5 when a
``kev`` file is not a catalog at all.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from clearance.cli._local import now_from
from clearance.cli._store import add_database_argument
from clearance.errors import ConfigError
from clearance.sources.formats import format_names

if TYPE_CHECKING:
    from clearance.ingest.storing import Stored
    from clearance.model.quarantine import Quarantined
    from clearance.sources.interface import Normalizer
    from clearance.store.interface import Store

# What a reference document holds, for "KEV catalog: 1,234 CVEs stored".
_DOCUMENTS = {
    "kev": ("KEV catalog", "CVEs"),
    "epss": ("EPSS scores", "CVEs"),
    "openvex": ("VEX document", "statements"),
    "cyclonedx-vex": ("VEX document", "statements"),
}


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
    parser.add_argument(
        "-v",
        "--show-quarantined",
        action="store_true",
        dest="show_quarantined",
        help="print each quarantined item as file:line: reason: detail (stderr)",
    )
    add_database_argument(parser)
    parser.add_argument("files", nargs="+", metavar="FILE", help="export files; - for stdin")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from clearance.sources.formats import DOCUMENT_FORMATS, make_normalizer
    from clearance.store import database_url
    from clearance.store.sql import SqlStore

    now = now_from(args)
    # Every option is checked, and every file opened, before the store is touched.
    document = args.format in DOCUMENT_FORMATS
    if document and (args.source or args.cluster or args.hostname_is_node):
        raise ConfigError(
            f"--format {args.format} takes no --source, --cluster or --hostname-is-node"
        )
    options = {"cluster": args.cluster, "hostname_is_node": args.hostname_is_node}
    make_normalizer(args.format, source=args.source, **options)  # refuses options it does not take
    show = args.show_quarantined or getattr(args, "verbose", False)
    with ExitStack() as stack:
        files = [(name, stack.enter_context(_open(name))) for name in args.files]
        store = SqlStore.open(database_url(args.database))
        stack.callback(store.close)
        for name, stream in files:
            if document:
                _store_document(store, args.format, name, stream.read(), now, show)
                continue
            # A Trivy report without CreatedAt is dated by its file (stdin: --now).
            dated = {"scanned_at": _modified(name, now)} if args.format == "trivy" else {}
            normalizer = make_normalizer(args.format, source=args.source, **options, **dated)
            progress = _Progress(name, _size(name))
            total = _stream(store, normalizer, args.source or args.format, name, stream, now, show,
                            progress)  # fmt: skip
            progress.done()
            line = f"{name}: {total.signals} signal(s) stored as {total.source!r}"
            if total.known_exploited:
                line += f", {total.known_exploited} known-exploited (CISA KEV)"
            line += f", {total.quarantined} quarantined"
            skipped = getattr(normalizer, "skipped", None)
            if skipped:
                line += " (not findings: "
                line += ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())) + ")"
            print(line, flush=True)
    return 0


def _stream(
    store: Store,
    normalizer: Normalizer,
    source: str,
    name: str,
    stream: BinaryIO,
    now: datetime,
    show: bool,
    progress: _Progress,
) -> Stored:
    """Normalize ``stream`` chunk by chunk, folding the chunks' signals in memory and storing
    them whenever enough are held, and at the end; the sum of what was stored."""
    import msgspec

    from clearance.ingest.reading import Pending, chunks, shift_lines
    from clearance.ingest.storing import Stored, store_batch
    from clearance.model.signal import fold

    total = Stored(source, 0, 0, 0, 0, 0)
    pending = Pending(getattr(normalizer, "combine", fold))

    def flush() -> None:
        nonlocal total
        stored = store_batch(store, pending.take(), source, now)
        total = Stored(
            stored.source,
            total.signals + stored.signals,
            total.known_exploited + stored.known_exploited,
            total.quarantined + stored.quarantined,
            total.inserted + stored.inserted,
            total.updated + stored.updated,
            total.unchanged + stored.unchanged,
        )

    for chunk in chunks(stream):
        batch = normalizer.normalize(chunk.data, location=name)
        if chunk.first_line > 1:
            batch = msgspec.structs.replace(
                batch, quarantined=shift_lines(batch.quarantined, chunk.first_line - 1)
            )
        if show:
            _show(batch.quarantined, name)
        pending.add(batch)
        if pending.full:
            flush()
        progress.update(chunk.read, total.signals + len(pending.signals))
    flush()  # also when nothing is held: the source's success is recorded
    return total


def _store_document(
    store: Store, fmt: str, name: str, data: bytes, now: datetime, show: bool
) -> None:
    from clearance.ingest.storing import store_document

    # Not the document (a proxy's page): SourceError, and the stored copy is kept.
    stored = store_document(store, fmt, data, now, source=fmt)
    what, unit = _DOCUMENTS.get(fmt, (f"{fmt} reference", "entries"))
    print(
        f"{name}: {what}: {stored.entries or 0:,} {unit} stored; "
        f"{stored.known_exploited} known-exploited signal(s) raised, "
        f"{stored.updated} stored signal(s) updated, {stored.quarantined} quarantined",
        flush=True,
    )
    if show and stored.quarantined:
        print(f"{name}: {stored.quarantined} entries quarantined (not listed per entry)",
              file=sys.stderr)  # fmt: skip


def _show(items: tuple[Quarantined, ...], name: str) -> None:
    """``file:line: reason: detail`` per item, as compilers locate errors."""
    for item in items:
        where = item.location or name
        prefix = f"{name}: line "
        if where.startswith(prefix) and where[len(prefix) :].isdigit():
            where = f"{name}:{where[len(prefix) :]}"
        print(f"{where}: {item.reason}: {item.detail}", file=sys.stderr)


class _Progress:
    """``falco.jsonl: 412 MB of 1,024 MB (40%), 1,234,567 signal(s)`` on stderr, rewritten in
    place, on a terminal only: a pipeline's log gets the summary line and nothing else."""

    def __init__(self, name: str, size: int | None) -> None:
        self.name = name
        self.size = size
        self.tty = sys.stderr.isatty()
        self.shown = False

    def update(self, read: int, signals: int) -> None:
        if not self.tty:
            return
        mb = read / 1_000_000
        line = f"{self.name}: {mb:,.0f} MB"
        if self.size:
            line += f" of {self.size / 1_000_000:,.0f} MB ({100 * read // self.size}%)"
        sys.stderr.write(f"\r{line}, {signals:,} signal(s)\x1b[K")
        sys.stderr.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _size(name: str) -> int | None:
    if name == "-":
        return None
    try:
        return Path(name).stat().st_size
    except OSError:
        return None


def _modified(name: str, now: datetime) -> datetime:
    if name == "-":
        return now
    return datetime.fromtimestamp(Path(name).stat().st_mtime, UTC)


def _open(name: str) -> _Opened:
    if name == "-":
        return _Opened(sys.stdin.buffer, close=False)
    try:
        return _Opened(Path(name).open("rb"), close=True)
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror or exc}") from exc


class _Opened:
    """A binary stream as a context manager that leaves stdin open."""

    def __init__(self, stream: BinaryIO, *, close: bool) -> None:
        self.stream = stream
        self.close = close

    def __enter__(self) -> BinaryIO:
        return self.stream

    def __exit__(self, *_: object) -> None:
        if self.close:
            self.stream.close()
