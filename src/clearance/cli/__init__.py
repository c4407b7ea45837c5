"""The ``clearance`` command: parse, dispatch, and map errors to exit codes in one place.

Exit codes (``check`` and anything that renders a verdict):

    0   proceed          10  approve          20  block
    2   usage or configuration error (bad flag, missing or invalid clearance.yaml)
    3   policy error (the policy file cannot be used)
    4   target error (unknown environment, unresolvable target)
    5   a source, inventory, store or the service failed (or could not be reached)
    6   ``serve`` cannot start: its address is in use
    1   a bug in Clearance: please report it
    141 stdout was closed early (``clearance audit export | head``): 128 + SIGPIPE, as the
        shell reports a command a pipe stopped; nothing is printed

A command that needs an optional extra not installed exits 2 naming it (``pip install
'clearance[server]'``). docs/exit-codes.md is the table users read; keep it in step.

Each command lives in its own module with ``register(subparsers)``; the module is imported only
when its command runs, so ``clearance check`` does not pay for the server's imports.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, Protocol

from clearance import __version__
from clearance.errors import (
    ClearanceError,
    ConfigError,
    InventoryError,
    PolicyError,
    PortInUseError,
    ServiceRefusedError,
    ServiceUnavailableError,
    SourceError,
    TargetError,
    UnknownStatusError,
)

EXIT_USAGE = 2
EXIT_POLICY = 3
EXIT_TARGET = 4
EXIT_DEPENDENCY = 5
EXIT_CANNOT_START = 6
EXIT_BUG = 1
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE

# Commands whose need for the store is met by the lighter postgres extra as well.
_STORE_MODULES = frozenset({"sqlalchemy", "alembic"})

# name → (module, one-line help). Modules are imported lazily when their command is chosen.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("clearance.cli.check", "decide whether a deploy may proceed (exit 0/10/20)"),
    "explain": ("clearance.cli.explain", "show the factor-by-factor arithmetic of a score"),
    "policy": ("clearance.cli.policy", "validate a policy file or run policy tests"),
    "demo": ("clearance.cli.demo", "decide the built-in demo targets and print the verdicts"),
    "sync": (
        "clearance.cli.sync",
        "pull every configured source into the store (--watch: keep going)",
    ),
    "ingest": (
        "clearance.cli.ingest",
        "store a platform's export file (--format falcon|falco|…|trivy|kev) as sync would",
    ),
    "audit": ("clearance.cli.audit", "verify, export or replay the hash-chained decision log"),
    "report": ("clearance.cli.report", "report from the decision log (shadow: what it would do)"),
    "tokens": ("clearance.cli.tokens", "create, list or revoke API tokens for the service"),
    "serve": ("clearance.cli.serve", "run the decision service over HTTP"),
    "approve": ("clearance.cli.approve", "approve a decision on the service (needs a reason)"),
    "reject": ("clearance.cli.approve", "reject a decision on the service (needs a reason)"),
    "deployed": (
        "clearance.cli.deployed",
        "tell the service a decision's deploy happened (it is then watched)",
    ),
    "exceptions": ("clearance.cli.exceptions", "create, list or revoke exceptions on the service"),
    "completion": ("clearance.cli.completion", "print a completion script: bash, zsh or fish"),
}

logger = logging.getLogger(__name__)

_REFUSED_TIPS = {
    401: "set $CLEARANCE_TOKEN to an API token (`clearance tokens create`) or an OIDC JWT the "
    "service trusts",
    403: "the token lacks the scope for this, or the policy does not let you do it (see above)",
    404: "check the id, and that --server names the service that made it",
}


class Command(Protocol):
    def register(self, parser: argparse.ArgumentParser) -> None: ...


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override,unused-ignore]
        self.print_usage(sys.stderr)
        self.exit(
            EXIT_USAGE, f"clearance: error: {message}\nTip: run with --help to see the options.\n"
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


class _Formatter(argparse.HelpFormatter):
    """argparse's own, given the terminal's width. argparse builds a formatter on every
    ``add_argument`` (to check metavars), and without a width it imports shutil (with bz2,
    lzma, fnmatch) to ask the terminal's: ~2 ms of every command's start-up."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` gives it: ``$COLUMNS``, else the
    terminal's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="clearance", description="Is it safe to deploy this, to that target, right now?"
    )
    parser.add_argument("--version", action="version", version=f"clearance {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    chosen = next((a for a in argv if a in COMMANDS), None)
    only = _only_command(argv, chosen)
    for name, (module_name, help_text) in COMMANDS.items():
        if only is not None and name != only:
            continue
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module: Command = importlib.import_module(module_name)
            module.register(command_parser)
    return parser


# Options that may come before the command and print nothing about the other commands.
_QUIET_OPTIONS = frozenset({"-v", "--verbose"})


def _only_command(argv: Sequence[str], chosen: str | None) -> str | None:
    """The command, when its parser is the only one needed: it comes first, or after nothing
    but ``-v``. Anything else (no command, a misspelt one, ``--help`` before it) lists every
    command, so gets them all. (Adding every command's parser was three quarters of
    ``check``'s argument parsing: start-up, docs/benchmarks.md.)"""
    if chosen is None:
        return None
    position = list(argv).index(chosen)
    if not set(argv[:position]) <= _QUIET_OPTIONS:
        return None
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        return _broken_pipe()
    except ModuleNotFoundError as exc:
        from clearance.config import EXTRAS  # late: only when a module is missing

        extra = EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        server_only = "serve" in (sys.argv[1:] if argv is None else argv)
        _fail(missing_extra(exc.name or "", extra, server_only=server_only), None)
        return EXIT_USAGE


def missing_extra(module: str, extra: str, *, server_only: bool = False) -> str:
    """What to install when ``module`` (an optional dependency) is missing; the store's
    modules come with the postgres extra too, except for ``serve`` (``server_only``)."""
    message = f"this command needs the {extra} extra ({module} is not installed): "
    message += f"pip install 'clearance[{extra}]'"
    if module.split(".", maxsplit=1)[0] in _STORE_MODULES and not server_only:
        message += " (or 'clearance[postgres]' for the store without the HTTP server)"
    return message


def _broken_pipe() -> int:
    """The reader went away (``| head``): stop quietly. Python would complain again when it
    flushes stdout at exit, so point stdout at /dev/null first."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests): nothing to flush
        pass
    return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.command or not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code: int = args.run(args)
    except ClearanceError as exc:
        exit_code, message, tip = failure(exc)
        _fail(message, tip)
        return exit_code
    except KeyboardInterrupt:
        return 130
    except (BrokenPipeError, ModuleNotFoundError):
        raise  # main() says what they mean
    except Exception:
        logger.exception("unexpected error")
        _fail("unexpected internal error (details above)", "please report this as a bug")
        return EXIT_BUG
    return code


def failure(exc: ClearanceError) -> tuple[int, str, str | None]:
    """The exit code, message and tip (None: nothing more to say) for one of our errors (also
    the pipeline gate's)."""
    match exc:
        case PortInUseError():
            return EXIT_CANNOT_START, str(exc), exc.tip
        case PolicyError():
            return (
                EXIT_POLICY,
                f"the policy cannot be used:\n{exc}",
                "fix the lines above; `clearance policy validate FILE` checks a policy",
            )
        case ConfigError():
            # Only a mistake in clearance.yaml points at the example config (exc.tip says so).
            return EXIT_USAGE, str(exc), exc.tip
        case TargetError():
            return (
                EXIT_TARGET,
                str(exc),
                "check --env and --workload against the policy and inventory",
            )
        case ServiceRefusedError():
            tip = _REFUSED_TIPS.get(exc.status or 0, "the service's answer says why")
            return EXIT_USAGE, str(exc), tip
        case ServiceUnavailableError():
            tip = "it was retried; check that the service is up (GET /readyz) and try again"
            return EXIT_DEPENDENCY, str(exc), tip
        case SourceError() | InventoryError():
            tip = "the failure stances decide on stale data; this error stopped the run itself"
            return EXIT_DEPENDENCY, str(exc), tip
        case UnknownStatusError():
            tip = "a status this client does not know is never read as proceed; upgrade it"
            return EXIT_DEPENDENCY, str(exc), tip
    return EXIT_DEPENDENCY, str(exc), "run with --verbose for details"


def _fail(message: str, tip: str | None) -> None:
    print(f"clearance: error: {message}", file=sys.stderr)
    if tip:
        print(f"Tip: {tip}.", file=sys.stderr)
