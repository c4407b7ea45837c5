"""The pipeline gate: ``python -m clearance.cli.gate`` (GitHub Action, GitLab CI, Tekton, Jenkins).

A thin adapter: ``CLEARANCE_*`` environment variables become the flags of ``clearance check``,
which then runs exactly as at a terminal — by the service when ``CLEARANCE_SERVER`` is set (the
bearer ``CLEARANCE_TOKEN``, else the GitHub job's OIDC token for ``CLEARANCE_AUDIENCE``, masked
before anything else is printed), else locally from ``CLEARANCE_CONFIG`` — through the one
client (:mod:`clearance.client`) and the same renderers. Inputs arrive through ``env``, never
through the script text (action.yml).

Inputs: ``CLEARANCE_ENV``, ``_CLUSTER``, ``_NAMESPACE``, ``_WORKLOAD`` (required), ``_IMAGES``
(one per line or comma-separated), ``_EVIDENCE`` (reports about the change, ``junit:FILE`` or
``sarif:FILE``, one per line), ``_MANIFEST``, ``_CONFIG`` (local), ``_WAIT`` (``true``),
``_WAIT_MINUTES``, ``_POLL_SECONDS``; the change from ``GITHUB_SHA``, ``GITHUB_ACTOR`` and
``GITHUB_REPOSITORY``/``GITHUB_RUN_ID``. ``CLEARANCE_FORMAT``: ``github`` (default: job summary,
outputs and annotations), ``text`` or ``json``.

What the gate adds: the ``exit-code`` output; ``CLEARANCE_DOTENV``, a file for ``KEY=VALUE``
lines (GitLab ``artifacts:reports:dotenv``); ``CLEARANCE_RESULTS_DIR``, a directory for one file
per result (Tekton ``/tekton/results``); and ``CLEARANCE_FAIL_ON``: exit 0 to go on, or the
verdict's code (10 approve, 20 block) when ``fail-on`` says so. When Clearance could not decide,
the exit code is ``clearance check``'s (2 usage, 3 policy, 4 target, 5 a dependency or the
service), with the message (never the token) as an annotation.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from clearance.errors import ClearanceError, ConfigError

EXIT_USAGE = 2
_FAIL = {"block": (20,), "approve": (10, 20), "never": ()}
_FORMATS = ("github", "text", "json")

logger = logging.getLogger(__name__)


def main(env: Mapping[str, str] = os.environ) -> int:
    from clearance.cli import EXIT_BUG, failure
    from clearance.cli.check import check
    from clearance.render.output import emit

    fmt = env.get("CLEARANCE_FORMAT") or "github"
    fail_on = env.get("CLEARANCE_FAIL_ON") or "block"
    try:
        if fmt not in _FORMATS:
            raise ConfigError(f"CLEARANCE_FORMAT must be github, text or json, not {fmt!r}")
        if fail_on not in _FAIL:
            raise ConfigError(f"fail-on must be block, approve or never, not {fail_on!r}")
        args = arguments(env, fmt)
        checked = check(args, env)
    except ClearanceError as exc:
        code, message, tip = failure(exc)
        _could_not_decide(fmt if fmt in _FORMATS else "text", message, tip)
        return code
    except Exception:
        logger.exception("unexpected error")
        _could_not_decide(fmt, "unexpected internal error (details above)", "please report it")
        return EXIT_BUG
    emit(checked.decision, fmt, standing=checked.standing)
    d, code = checked.decision, checked.exit_code
    results = {"verdict": d.verdict.value, "score": f"{d.score:g}", "decision-id": d.id}
    if checked.standing is not None:
        results["status"] = checked.standing.status
    results["exit-code"] = str(code)
    _append(env, "GITHUB_OUTPUT", f"exit-code={code}\n")
    _results(env, results)
    if d.shadow and d.verdict.exit_code and fmt != "github":  # github: the annotation says it
        _warn(fmt, f"shadow mode: enforcing would answer {d.verdict.value}; the job goes on")
    if code == 10 and code not in _FAIL[fail_on]:
        _warn(fmt, "approval required; fail-on=block lets the job go on")
    return code if code in _FAIL[fail_on] else 0


def arguments(env: Mapping[str, str], fmt: str) -> argparse.Namespace:
    """The ``clearance check`` flags these variables mean, parsed by its own parser."""
    from clearance.cli import build_parser

    required = ("ENV", "CLUSTER", "NAMESPACE", "WORKLOAD")
    missing = [k for k in required if not env.get(f"CLEARANCE_{k}", "").strip()]
    if missing:
        raise ConfigError("missing inputs: " + ", ".join(m.lower() for m in missing))
    argv = ["check", "--format", fmt]
    for flag, key in (("--env", "ENV"), ("--cluster", "CLUSTER"), ("--namespace", "NAMESPACE"),
                      ("--workload", "WORKLOAD"), ("--manifest", "MANIFEST")):  # fmt: skip
        if value := env.get(f"CLEARANCE_{key}", "").strip():
            argv += [flag, value]
    for image in env.get("CLEARANCE_IMAGES", "").replace(",", "\n").split("\n"):
        if image.strip():
            argv += ["--image", image.strip()]
    for report in env.get("CLEARANCE_EVIDENCE", "").split("\n"):
        if report.strip():
            argv += ["--evidence", report.strip()]
    for flag, key in (("--commit", "GITHUB_SHA"), ("--actor", "GITHUB_ACTOR")):
        if env.get(key):
            argv += [flag, env[key]]
    if (repository := env.get("GITHUB_REPOSITORY")) and (run := env.get("GITHUB_RUN_ID")):
        argv += ["--pipeline-run", f"{repository}/actions/runs/{run}"]
    if not env.get("CLEARANCE_SERVER", "").strip() and env.get("CLEARANCE_CONFIG"):
        argv += ["--config", env["CLEARANCE_CONFIG"]]
    if env.get("CLEARANCE_WAIT", "false").strip().lower() == "true":
        minutes = _number(env, "CLEARANCE_WAIT_MINUTES", 30.0)
        poll = _number(env, "CLEARANCE_POLL_SECONDS", 15.0)
        argv += ["--wait", "--timeout", f"{minutes * 60:g}s", "--poll-interval", f"{poll:g}s"]
    return build_parser(argv).parse_args(argv)


def _number(env: Mapping[str, str], key: str, default: float) -> float:
    text = env.get(key, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{key} must be a positive number, not {text!r}")
    return value


def _results(env: Mapping[str, str], values: Mapping[str, str]) -> None:
    """GitLab dotenv lines (CLEARANCE_VERDICT=…) and Tekton result files (verdict, …)."""
    if env.get("CLEARANCE_DOTENV"):
        lines = "".join(f"CLEARANCE_{k.upper().replace('-', '_')}={v}\n" for k, v in values.items())
        _append(env, "CLEARANCE_DOTENV", lines)
    if directory := env.get("CLEARANCE_RESULTS_DIR"):
        for key, value in values.items():
            (Path(directory) / key).write_text(value, encoding="utf-8")


def _append(env: Mapping[str, str], variable: str, text: str) -> None:
    if path := env.get(variable):
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(text)


def _could_not_decide(fmt: str, message: str, tip: str | None) -> None:
    from clearance.render.github import escape_annotation

    if fmt == "github":
        print(f"::error title=Clearance could not decide::{escape_annotation(message)}", flush=True)
    print(f"clearance: error: {message}", file=sys.stderr)
    if tip:
        print(f"Tip: {tip}.", file=sys.stderr)


def _warn(fmt: str, message: str) -> None:
    if fmt == "github":
        print(f"::warning title=Clearance::{message}", flush=True)
    else:
        print(f"clearance: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
