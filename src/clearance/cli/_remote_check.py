"""``clearance check --server URL [--wait [--timeout 30m]]``: the same check, asked of the service.

Same target flags and exit codes as local mode (0 proceed, 10 approve, 20 block). The verdict is
the service's, recorded in its log before it answers; the exit code follows the status it
answers (``ApprovalStatus``), and a status this client does not know fails (exit 5), never
proceeds. With ``--wait`` an ``approve`` verdict is
waited on: the decision is polled until it is approved or rejected or the timeout passes. When
it is approved the check asks once more, because an approval counts only while the evidence
holds: if a new signal arrived meanwhile, the fresh decision says the approval was voided, and
the wait goes on for the fresh one. A terminal shows a progress line; CI logs get a line every
``--report-every``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from clearance.cli._remote import Remote, progress, render
from clearance.errors import ConfigError
from clearance.model.status import ApprovalStatus
from clearance.policy.schema import duration_seconds


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    remote = parser.add_argument_group("service")
    remote.add_argument(
        "--server", metavar="URL", help="ask this Clearance service (token from $CLEARANCE_TOKEN)"
    )
    remote.add_argument(
        "--wait", action="store_true", help="with --server: wait on an approve verdict"
    )
    remote.add_argument("--timeout", default="30m", help="how long --wait waits (default 30m)")
    remote.add_argument("--poll-interval", default="5s", help="how often --wait asks (default 5s)")
    remote.add_argument(
        "--report-every", default="30s", help="progress line interval off a terminal"
    )


def _seconds(text: str, flag: str) -> float:
    try:
        return float(duration_seconds(text))
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from exc


def _body(args: argparse.Namespace) -> dict[str, Any]:
    if args.manifest is not None or args.demo or args.now:
        raise ConfigError("--manifest, --demo and --now apply to local checks, not --server")
    change = {k: v for k, v in (("commit", args.commit), ("actor", args.actor)) if v}
    body: dict[str, Any] = {
        "environment": args.env,
        "cluster": args.cluster,
        "namespace": args.namespace,
        "workload": args.workload,
        "images": list(args.image),
    }
    if change:
        body["change"] = change
    return body


def check_remotely(args: argparse.Namespace) -> int:
    timeout = _seconds(args.timeout, "--timeout")
    poll = _seconds(args.poll_interval, "--poll-interval")
    every = _seconds(args.report_every, "--report-every")
    body = _body(args)
    remote = Remote.from_args(args)
    try:
        answer = remote.call("POST", "/v1/decisions", json=body)
        _show(answer, args.format)
        status = _status(answer)
        if not args.wait or status is not ApprovalStatus.PENDING_APPROVAL:
            return status.exit_code
        return _wait(remote, body, answer, args.format, timeout, poll, every)
    finally:
        remote.close()


def _status(answer: dict[str, Any]) -> ApprovalStatus:
    """The answered status; UnknownStatusError (exit 5) for one this client does not know."""
    return ApprovalStatus.from_wire(answer.get("status"))


def _show(answer: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(answer, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render(answer))
    sys.stdout.flush()


def _wait(
    remote: Remote,
    body: dict[str, Any],
    answer: dict[str, Any],
    fmt: str,
    timeout: float,
    poll: float,
    every: float,
) -> int:
    tty = sys.stderr.isatty()
    started = time.monotonic()
    last_report = float("-inf")  # the first line at once, then one per interval
    spinner = "|/-\\"
    tick = 0
    while (elapsed := time.monotonic() - started) < timeout:
        approval = answer["approval"]
        line = (
            f"waiting for approval of {answer['id']}: {len(approval['approvers'])} of "
            f"{approval['required']} ({int(elapsed)}s of {int(timeout)}s)"
        )
        if tty:
            progress(f"{spinner[tick % 4]} {line}", tty=True)
            tick += 1
        elif time.monotonic() - last_report >= every:
            progress(line, tty=False)
            last_report = time.monotonic()
        time.sleep(min(poll, max(timeout - elapsed, 0.0)))
        current = remote.call("GET", f"/v1/decisions/{answer['id']}")
        status = _status(current)
        if status is not ApprovalStatus.PENDING_APPROVAL and not status.clears:
            _done(tty)
            _show(current, fmt)
            return status.exit_code
        if status.clears:
            _done(tty)
            fresh = remote.call("POST", "/v1/decisions", json=body)  # does the evidence hold?
            _show(fresh, fmt)
            if _status(fresh) is not ApprovalStatus.PENDING_APPROVAL:
                return _status(fresh).exit_code
            current = fresh
        answer = current
    _done(tty)
    print(
        f"clearance: gave up waiting after {int(timeout)}s: {answer['id']} still needs approval",
        file=sys.stderr,
    )
    return _status(answer).exit_code


def _done(tty: bool) -> None:
    if tty:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
