"""``clearance sync [--watch]``: pull every configured source into the store.

Once by default (exit 0 when every source succeeded, 5 otherwise); with ``--watch``, on each
source's schedule until interrupted. On a terminal each source shows a live progress line.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from clearance.cli._local import add_run_arguments, config_path, now_from

if TYPE_CHECKING:
    from clearance.sync import PullResult

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
    from clearance.leases import lease_for
    from clearance.store import database_url, open_store
    from clearance.sync import Poller, Schedule

    url = database_url(args.database)
    with ExitStack() as stack:
        config = load_config(config_path(args, stack, now_from(args)))
        store = open_store(url)
        stack.callback(store.close)
        lease = lease_for(url)
        stack.callback(lease.close)
        poller = Poller(
            store=store,
            sources={s.name: s for s in config.sources},
            schedules={
                name: Schedule(every=timedelta(seconds=s.every_seconds), retries=s.retries)
                for name, s in config.sync.items()
            },
            lease=lease,
            clock=lambda: datetime.now(UTC),
            sleep=time.sleep,
        )
        if not config.sources:
            print("no sources configured: nothing to sync", file=sys.stderr)
            return 0
        progress = _progress if sys.stderr.isatty() else None
        if not args.watch:
            results = [poller.pull(name, progress) for name in sorted(poller.sources)]
            _report(results)
            return 0 if all(r.ok for r in results) else EXIT_SOURCE_FAILED
        try:
            while True:
                _report(poller.run_due(progress))
                time.sleep(max(1.0, poller.seconds_until_due()))
        except KeyboardInterrupt:
            return 130


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
