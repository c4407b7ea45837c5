"""The CLI's side of the service: its flags, the connection, and ``check`` asked remotely.

The server is ``--server URL`` or ``$CLEARANCE_SERVER``; the bearer ``$CLEARANCE_TOKEN`` or, in a
GitHub Actions job, the job's OIDC token (masked with ``::add-mask::`` before anything else is
printed). Everything else, retries and errors included, is :mod:`clearance.client`.

``check --wait``: an ``approve`` verdict is waited on until approved, rejected or ``--timeout``;
while it waits, the pending decision is shown (except with ``--format json``), and a terminal gets
a progress line, a CI log one line every ``--report-every``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from clearance.errors import ConfigError

if TYPE_CHECKING:
    from clearance.cli.check import Checked
    from clearance.client.answers import Answer
    from clearance.client.session import ServiceClient

SERVER_ENV = "CLEARANCE_SERVER"
_SPINNER = "|/-\\"


def add_server_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server", metavar="URL", help=f"the Clearance service (default: ${SERVER_ENV})"
    )


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    remote = parser.add_argument_group("service")
    remote.add_argument(
        "--server",
        metavar="URL",
        help=f"ask this Clearance service (default: ${SERVER_ENV}; token from $CLEARANCE_TOKEN)",
    )
    remote.add_argument("--wait", action="store_true", help="with a server: wait on an approval")
    remote.add_argument("--timeout", default="30m", help="how long --wait waits (default 30m)")
    remote.add_argument("--poll-interval", default="5s", help="how often --wait asks (default 5s)")
    remote.add_argument(
        "--report-every", default="30s", help="progress line interval off a terminal"
    )


def remote(args: argparse.Namespace, env: Mapping[str, str]) -> bool:
    """Whether ``check`` asks a service: ``--server``, else ``$CLEARANCE_SERVER``."""
    return bool(getattr(args, "server", None) or env.get(SERVER_ENV, "").strip())


def connect(args: argparse.Namespace, env: Mapping[str, str]) -> ServiceClient:
    from clearance.client.session import ServiceClient

    return ServiceClient.connect(getattr(args, "server", None), env, _mask)


def _mask(secret: str) -> None:
    # A GitHub Actions workflow command: the runner hides the value in every later log line.
    print(f"::add-mask::{secret}", flush=True)


def ask(args: argparse.Namespace, env: Mapping[str, str]) -> Checked:
    """``check`` by the service: the same target flags, the decision and its standing."""
    from clearance.cli._local import evidence_from, manifest_from, target_from
    from clearance.cli.check import Checked
    from clearance.client.answers import Question
    from clearance.render.output import emit

    local_only = (
        ("--demo", args.demo),
        ("--config", args.config),
        ("--database", getattr(args, "database", None)),
    )
    for flag, given in local_only:
        if given:
            raise ConfigError(
                f"{flag} applies to a local check, not to one asked of a service (--server or "
                f"${SERVER_ENV}); unset ${SERVER_ENV} to check locally"
            )
    if args.now:
        raise ConfigError(
            "--now applies to a local check: the service decides at its own time; "
            "`clearance audit replay ID` re-runs a recorded decision as of its time"
        )
    timeout = seconds(args.timeout, "--timeout")
    poll = seconds(args.poll_interval, "--poll-interval")
    every = seconds(args.report_every, "--report-every")
    target = target_from(args)
    evidence = tuple((r.format.value, r.name, text) for r, text in evidence_from(args))
    question = Question(target, manifest_from(args), evidence)
    with connect(args, env) as service:
        answer = service.decide(question)
        if args.wait and answer.pending:
            if args.format != "json":
                emit(answer.decision, "text", standing=answer.standing)
            report = _Progress(timeout, every, tty=sys.stderr.isatty())
            answer = service.wait(question, answer, timeout=timeout, poll=poll, progress=report)
            report.done()
            if answer.pending:
                print(
                    f"clearance: gave up waiting after {timeout:g}s: {answer.decision.id} "
                    "still needs approval",
                    file=sys.stderr,
                )
    return Checked(answer.decision, answer.standing)


def seconds(text: str, flag: str) -> float:
    """A duration flag: ``30m``, ``5s``, ``1h``; fractions of a second as ``0.5s``."""
    from clearance.policy.schema import duration_seconds

    if m := re.fullmatch(r"(\d+\.\d+)s", text.strip()):
        value = float(m.group(1))
        if value > 0:
            return value
    try:
        return float(duration_seconds(text))
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from exc


class _Progress:
    """``waiting for approval of dec_…: 1 of 2 (30s of 1800s)`` on stderr: a spinner on a
    terminal, else one line per ``every`` seconds (by the wait's own clock)."""

    def __init__(self, timeout: float, every: float, *, tty: bool) -> None:
        self.timeout, self.every, self.tty = timeout, every, tty
        self.last: float | None = None
        self.ticks = 0

    def __call__(self, answer: Answer, elapsed: float) -> None:
        s = answer.standing
        line = (
            f"waiting for approval of {answer.decision.id}: {len(s.approvers)} of {s.required} "
            f"({int(elapsed)}s of {int(self.timeout)}s)"
        )
        if self.tty:
            sys.stderr.write(f"\r\033[K{_SPINNER[self.ticks % 4]} {line}")
            self.ticks += 1
        elif self.last is None or elapsed - self.last >= self.every:
            sys.stderr.write(line + "\n")
            self.last = elapsed
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
