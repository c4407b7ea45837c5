"""What ``check``, ``explain`` and ``demo`` share: turn flags into a decision in local mode.

The snapshot is assembled by :func:`clearance.snapshot.assemble`, as the service assembles its
own: from the configured sources read now, or, when a store is configured (``--database`` or
``store:`` in clearance.yaml), from what ``sync``, ``ingest`` and the push receivers stored.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from clearance.config import load_config, locate
from clearance.errors import ConfigError
from clearance.model.decision import Decision
from clearance.model.signal import parse_time
from clearance.model.target import ChangeInfo, Target

if TYPE_CHECKING:
    from clearance.model.reports import Report
    from clearance.model.target import SourceHealth
    from clearance.snapshot import Evidence, StoredEvidence


class LocalResult(msgspec.Struct, frozen=True):
    decision: Decision
    skipped: int
    store: str | None = None  # the store read (its URL, password hidden), when one was


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("target")
    target.add_argument("--env", required=True, help="environment named in the policy")
    target.add_argument("--cluster", required=True)
    target.add_argument("--namespace", required=True)
    target.add_argument(
        "--workload", required=True, metavar="KIND/NAME", help="e.g. deployment/api"
    )
    target.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="REF",
        help="image being deployed (repeatable)",
    )
    target.add_argument("--actor", help="who asked for the deploy (recorded)")
    target.add_argument("--commit", help="commit being deployed (recorded)")
    target.add_argument(
        "--pipeline-run",
        metavar="RUN",
        help="the pipeline run asking (recorded), e.g. owner/repo/actions/runs/42",
    )
    target.add_argument(
        "--manifest",
        type=Path,
        help="the workload manifest about to be applied (YAML or JSON): its images, and the "
        "nodes it may be scheduled on when the workload is new or changing",
    )
    target.add_argument(
        "--evidence",
        action="append",
        default=[],
        metavar="FORMAT:FILE",
        help="a report about the change: junit:report.xml (test results) or "
        "sarif:results.sarif (code scanning); repeatable",
    )
    add_run_arguments(parser)
    parser.add_argument(
        "--database",
        metavar="URL",
        help="decide from this store (what sync, ingest and the push receivers stored) instead "
        "of reading the sources now (default: clearance.yaml's store:, if any)",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    run = parser.add_argument_group("run")
    run.add_argument(
        "--config", help="clearance.yaml (default: $CLEARANCE_CONFIG or ./clearance.yaml)"
    )
    run.add_argument("--demo", action="store_true", help="use the built-in demo fleet and policy")
    run.add_argument("--now", help="decide as of this RFC 3339 time (default: the current time)")


def now_from(args: argparse.Namespace) -> datetime:
    if args.now:
        try:
            return parse_time(args.now)
        except ValueError as exc:
            raise ConfigError(f"--now: {exc}") from exc
    return datetime.now(UTC)


def target_from(args: argparse.Namespace) -> Target:
    try:
        return Target.of(
            environment=args.env,
            cluster=args.cluster,
            namespace=args.namespace,
            workload=args.workload,
            images=tuple(args.image),
            change=ChangeInfo(
                commit=args.commit,
                pipeline_run=getattr(args, "pipeline_run", None),
                actor=args.actor,
            ),
        )
    except ValueError as exc:  # a malformed --image
        raise ConfigError(f"--image: {exc}") from exc


def config_path(args: argparse.Namespace, stack: ExitStack, now: datetime) -> Path:
    if args.demo:
        import tempfile  # only the demo writes files: a checked config loads none of it

        from clearance import demo

        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clearance-demo-")))
        return demo.materialize(directory, now)
    return locate(args.config)


def decide_locally(args: argparse.Namespace, target: Target | None = None) -> LocalResult:
    from clearance.engine import decide
    from clearance.policy.load import load_policy
    from clearance.snapshot import LiveEvidence, assemble

    now = now_from(args)
    target = target or target_from(args)
    with ExitStack() as stack:
        config = load_config(config_path(args, stack, now))
        stack.callback(config.close)
        policy = load_policy(config.policy_path)
        policy.environment(target.environment)  # unknown environment: fail before any I/O
        manifest = manifest_from(args)
        reports = tuple(report for report, _ in evidence_from(args))
        url = getattr(args, "database", None) or config.store
        shown = None
        if url is None:
            live = LiveEvidence.read(config.sources, now)
            evidence: Evidence = live
            skipped = len(live.quarantined)
        else:
            evidence, shown = _stored(url, stack)
            skipped = 0
            _hint_source_names(evidence.source_health(now), [s.name for s in config.sources])
        snapshot = assemble(
            target,
            now,
            inventory=config.inventory,
            evidence=evidence,
            expected=[s.name for s in config.sources],
            manifest=manifest,
            reports=reports,
        )
    decision = decide(target, snapshot, policy, now)
    _tell_where(shown, config.sources == () and url is None)
    return LocalResult(decision, skipped, shown)


def _tell_where(store: str | None, no_sources: bool) -> None:
    """Say which store a decision was read from; with no source and no store, point at the
    store ``sync``/``ingest`` write by default, if one is here (stderr: stdout is the result)."""
    if store is not None:
        print(f"clearance: decided from the store at {store}", file=sys.stderr)
    elif no_sources and Path("clearance.db").exists():
        print(
            "clearance: tip: no source is configured, but ./clearance.db holds what sync or "
            "ingest stored: pass --database sqlite:///clearance.db (or set store: in "
            "clearance.yaml) to decide from it, or --server to ask the service",
            file=sys.stderr,
        )


# Reference data (catalogs, scores, statements) is stored under these names, never a source's.
_REFERENCE_SOURCES = frozenset({"kev", "epss", "vex"})


def _hint_source_names(health: Sequence[SourceHealth], expected: Sequence[str]) -> None:
    """A configured source with nothing stored, next to data stored under a name no source
    has, is most likely an ``ingest`` without ``--source``: say so (stderr), with the fix."""
    stored = {h.name for h in health if h.last_success is not None}
    missing = [name for name in expected if name not in stored]
    strays = sorted(stored - set(expected) - _REFERENCE_SOURCES)
    if not missing or not strays:
        return
    print(
        f"clearance: hint: nothing is stored for source(s) {', '.join(map(repr, missing))}, "
        f"but data is stored as {', '.join(map(repr, strays))}, which clearance.yaml does not "
        f"configure: `clearance ingest --source {missing[0]} …` stores under the configured "
        "name (ingest stores under the format's name by default)",
        file=sys.stderr,
    )


def _stored(url: str, stack: ExitStack) -> tuple[StoredEvidence, str]:
    """Stored evidence from the store at ``url``, which must exist and be at the schema head
    (a check never creates or migrates a store)."""
    try:
        from clearance.cli._store import sqlite_path
        from clearance.snapshot import StoredEvidence
        from clearance.store.database import safe_url
        from clearance.store.sql import SqlStore
    except ImportError as exc:
        raise ConfigError(
            f"reading a store needs the server extra ({exc.name} is missing): "
            "pip install 'clearance[server]'"
        ) from exc
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise ConfigError(
            f"no store at {path}: run `clearance sync` or `clearance ingest` first, or drop "
            "--database (and store:) to read the sources now"
        )
    store = SqlStore.open(url, migrate=False)
    stack.callback(store.close)
    return StoredEvidence(store), safe_url(url)


def evidence_from(args: argparse.Namespace, flag: str = "evidence") -> list[tuple[Report, str]]:
    """``--evidence FORMAT:FILE`` (or ``--FLAG``), each report read and parsed (so a bad one
    stops the check before anything is asked), with its text as sent to a service."""
    given_reports = getattr(args, flag, None) or ()
    if not given_reports:
        return []  # the report readers (XML among them) load only for a check that has reports
    from clearance.errors import ReportError
    from clearance.sources.reports import read_report

    out = []
    for given in given_reports:
        fmt, sep, name = given.partition(":")
        if not sep or not name:
            raise ConfigError(f"--{flag} {given!r}: write FORMAT:FILE, e.g. junit:report.xml")
        path = Path(name)
        try:
            data = path.read_bytes()
            report = read_report(fmt.strip().lower(), path.name, data)
            text = data.decode("utf-8")
        except OSError as exc:
            raise ConfigError(f"--{flag} {given}: cannot read {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"--{flag} {given}: {path} is not UTF-8 text") from exc
        except ReportError as exc:
            raise ConfigError(f"--{flag} {given}: {exc}") from exc
        out.append((report, text))
    return out


def manifest_from(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--manifest FILE``, read and checked against the target (``clearance.manifest``)."""
    path: Path | None = getattr(args, "manifest", None)
    if path is None:
        return None
    from clearance.manifest import load_manifest

    return load_manifest(path, args.namespace, args.workload)
