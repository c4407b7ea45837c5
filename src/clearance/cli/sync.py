"""``clearance sync [--watch]``: pull every configured source into the store.

Once by default (exit 0 when every source succeeded, 5 otherwise); with ``--watch``, on each
source's schedule until interrupted. On a terminal each source shows a live progress line.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from clearance.cli._local import add_run_arguments, config_path, now_from

if TYPE_CHECKING:
    from clearance.sync.poller import PullResult

EXIT_SOURCE_FAILED = 5


def register(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument(
        "--database", help="store URL (default: $CLEARANCE_DATABASE_URL or sqlite:///clearance.db)"
    )
    parser.add_argument(
        "--watch", action="store_true", help="keep pulling on each source's schedule"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from clearance.config import load_config
    from clearance.store import database_url, open_store
    from clearance.sync.background import Background, poller_for
    from clearance.sync.leases import lease_for

    url = database_url(args.database)
    with ExitStack() as stack:
        config = load_config(config_path(args, stack, now_from(args)))
        stack.callback(config.close)
        nats = config.ingest.falco_nats
        if not config.sources and not (args.watch and nats is not None):
            print("no sources configured: nothing to sync", file=sys.stderr)
            return 0
        store = open_store(url)
        stack.callback(store.close)
        lease = lease_for(url)
        stack.callback(lease.close)
        progress = _progress if sys.stderr.isatty() else None
        if not args.watch:
            poller = poller_for(config, store, lease, _now, time.sleep)
            results = [poller.pull(name, progress) for name in sorted(poller.sources)]
            _report(results)
            return 0 if all(r.ok for r in results) else EXIT_SOURCE_FAILED
        background = Background(config, store, lease, _now, report=_report, progress=progress)
        if nats is not None:
            print(f"{nats.source}: consuming Falco events from NATS stream {nats.stream!r}")
        background.start()
        try:
            while background.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            background.stop()
            return 130
        return 0


def _now() -> datetime:
    return datetime.now(UTC)


def _progress(source: str, batches: int, signals: int) -> None:
    sys.stderr.write(f"\r  {source:<20} {batches:>5} page(s) {signals:>9,} signal(s)")
    sys.stderr.flush()


def _report(results: list[PullResult]) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    for r in results:
        if r.skipped_reason:
            print(f"{r.source}: skipped ({r.skipped_reason})")
        elif r.ok:
            print(
                f"{r.source}: ok, {r.batches} page(s), {r.signals} signal(s), "
                f"{r.quarantined} quarantined"
            )
        else:
            print(f"{r.source}: failed: {r.error}")
