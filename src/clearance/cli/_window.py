"""The time window of commands that read the decision log: ``--since DURATION`` back from
``--now`` (default: the clock, read here at the edge, never in the core)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from clearance.errors import ConfigError
from clearance.model.signal import parse_time
from clearance.policy.schema import duration_seconds


def add_window_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--since", default=default, metavar="DURATION", help=f"how far back (default {default})"
    )
    parser.add_argument("--now", metavar="RFC3339", help="end of the window (default: now)")


def window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    try:
        span = duration_seconds(args.since)
        until = parse_time(args.now) if args.now else datetime.now(UTC).replace(microsecond=0)
    except ValueError as exc:
        raise ConfigError(f"--since/--now: {exc}") from exc
    return until - timedelta(seconds=span), until
