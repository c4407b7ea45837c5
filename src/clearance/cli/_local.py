"""What ``check``, ``explain`` and ``demo`` share: turn flags into a decision in local mode."""

from __future__ import annotations

import argparse
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clearance.config import load_config, locate
from clearance.errors import ConfigError
from clearance.model.decision import Decision
from clearance.model.signal import parse_time
from clearance.model.target import ChangeInfo, Target


@dataclass(frozen=True, slots=True)
class LocalResult:
    decision: Decision
    skipped: int


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
        "--manifest",
        type=Path,
        help="the workload manifest about to be applied (YAML or JSON): its images, and the "
        "nodes it may be scheduled on when the workload is new or changing",
    )
    add_run_arguments(parser)


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
            change=ChangeInfo(commit=args.commit, actor=args.actor),
        )
    except ValueError as exc:  # a malformed --image
        raise ConfigError(f"--image: {exc}") from exc


def config_path(args: argparse.Namespace, stack: ExitStack, now: datetime) -> Path:
    if args.demo:
        from clearance import demo

        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clearance-demo-")))
        return demo.materialize(directory, now)
    return locate(args.config)


def decide_locally(args: argparse.Namespace, target: Target | None = None) -> LocalResult:
    from clearance.engine import decide
    from clearance.gather import gather
    from clearance.policy.load import load_policy

    now = now_from(args)
    target = target or target_from(args)
    with ExitStack() as stack:
        config = load_config(config_path(args, stack, now))
        policy = load_policy(config.policy_path)
        policy.environment(target.environment)  # unknown environment: fail before any I/O
        gathered = gather(config, target, now, manifest=_manifest(args))
    return LocalResult(decide(target, gathered.snapshot, policy, now), len(gathered.quarantined))


def _manifest(args: argparse.Namespace) -> dict[str, Any] | None:
    path: Path | None = getattr(args, "manifest", None)
    if path is None:
        return None
    import yaml

    from clearance import bounded_yaml

    try:
        text = path.read_text(encoding="utf-8")
        documents = [d for d in bounded_yaml.load_all(text, str(path)) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--manifest {path}: cannot read it: {exc}") from exc
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise ConfigError(
            f"--manifest {path}: expected one Kubernetes object, found {len(documents)}"
        )
    manifest: dict[str, Any] = documents[0]
    return manifest
