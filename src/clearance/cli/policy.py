"""``clearance policy validate FILE``, ``clearance policy test PATH`` and ``clearance policy
simulate --candidate FILE``.

``validate`` exits 0 for a usable policy and 3 with every problem (``file:line:col: message``)
on stderr otherwise. ``test`` runs table-driven cases (see clearance.policytest and
docs/policy.md): one PASS/FAIL line per case, then a summary (``--format json|junit``: one
report for a pipeline instead); 0 when all pass, 1 when any fails, 2 for a test file that does
not follow the format, 3 for a bad policy. ``simulate`` replays the recorded decisions under a
candidate policy (clearance.audit.simulate): 0 when nothing would newly block, 20 (block's
code) when something would, 3 for a bad candidate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clearance.policytest import Outcome

from clearance.cli._window import add_window_arguments

EXIT_NEWLY_BLOCKS = 20


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    validate = sub.add_parser("validate", help="check a policy file; list every problem")
    validate.add_argument("file", type=Path)
    validate.set_defaults(run=run_validate)
    test = sub.add_parser("test", help="run *_test.yaml policy test cases")
    test.add_argument("path", type=Path, help="a directory of *_test.yaml files, or one file")
    test.add_argument(
        "-q", "--quiet", action="store_true", help="print failing cases and the summary only"
    )
    test.add_argument(
        "--format",
        choices=("text", "json", "junit"),
        default="text",
        help="text (default); json (one object: cases and totals); junit (JUnit XML for "
        "GitLab and Jenkins)",
    )
    test.set_defaults(run=run_test)
    simulate = sub.add_parser(
        "simulate", help="replay recorded decisions under a candidate policy; what would change"
    )
    simulate.add_argument("--candidate", type=Path, required=True, help="the policy to try")
    simulate.add_argument(
        "--database", metavar="URL", help="the decision log (default: $CLEARANCE_DATABASE_URL)"
    )
    add_window_arguments(simulate, "30d")
    simulate.add_argument("--environment", metavar="E", help="only this environment")
    simulate.add_argument("--format", choices=("text", "json", "github"), default="text")
    simulate.set_defaults(run=run_simulate)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def run_validate(args: argparse.Namespace) -> int:
    from clearance.policy.load import load_policy  # lazily: `clearance` starts fast

    policy = load_policy(args.file)
    doc = policy.document
    print(
        f"ok: {args.file} ({policy.digest}), {_count(len(doc.environments), 'environment')}, "
        f"{_count(len(doc.rules), 'rule')}, {_count(len(doc.suppressions), 'suppression')}, "
        f"{_count(len(doc.exceptions), 'exception')}"
    )
    return 0


def run_test(args: argparse.Namespace) -> int:
    from clearance.cli import EXIT_USAGE
    from clearance.errors import CaseFileError
    from clearance.policytest import discover, run_file

    try:
        outcomes = [o for path in discover(args.path) for o in run_file(path)]
    except CaseFileError as exc:
        print(
            f"clearance: error: {exc}\nTip: docs/policy.md (Policy tests) describes the format; "
            "examples/policy-tests has samples.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    failed = sum(1 for o in outcomes if not o.passed)
    if args.format != "text":
        sys.stdout.write(_report(outcomes, args.format, args.path))
        return 1 if failed else 0
    for o in outcomes:
        if o.passed:
            if not args.quiet:
                print(f"PASS {o.file.name}: {o.case}")
            continue
        print(f"FAIL {o.file.name}: {o.case}")
        for failure in o.failures:
            print(f"     {failure}")
    print(f"{len(outcomes) - failed} passed, {failed} failed")
    return 1 if failed else 0


def run_simulate(args: argparse.Namespace) -> int:
    from clearance.audit.simulate import render_markdown, render_text, simulate
    from clearance.cli._store import open_from_args
    from clearance.cli._window import window
    from clearance.policy.load import load_policy

    candidate = load_policy(args.candidate)
    since, until = window(args)
    store = open_from_args(args, create=False)
    try:
        impact = simulate(
            store.iter_records(since=since), candidate, since, until, args.environment
        )
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps(impact.to_dict(), indent=2, sort_keys=True))
    elif args.format == "github":
        summary = render_markdown(impact)
        print(summary, end="")
        if path := os.environ.get("GITHUB_STEP_SUMMARY"):
            with Path(path).open("a", encoding="utf-8") as f:
                f.write(summary)
        if impact.newly_blocks:
            print(
                f"::error title=Clearance policy impact::{impact.newly_blocks} recorded "
                "decision(s) would newly block under this policy"
            )
    else:
        print(render_text(impact), end="")
    return EXIT_NEWLY_BLOCKS if impact.newly_blocks else 0


def _report(outcomes: Sequence[Outcome], fmt: str, path: Path) -> str:
    """The outcomes as JSON (sorted keys: the same run, the same bytes) or JUnit XML."""
    if fmt == "json":
        cases = [
            {"file": str(o.file), "case": o.case, "passed": o.passed, "failures": list(o.failures)}
            for o in outcomes
        ]
        failed = sum(1 for o in outcomes if not o.passed)
        totals = {"total": len(outcomes), "passed": len(outcomes) - failed, "failed": failed}
        return json.dumps({"cases": cases, **totals}, sort_keys=True, ensure_ascii=False) + "\n"
    from clearance.render.junit import Case, to_junit

    junit_cases = [
        Case(
            name=o.case,
            classname=f"policy.{o.file.stem}",
            failure=None if o.passed else o.failures[0],
            details="\n".join(o.failures),
        )
        for o in outcomes
    ]
    return to_junit(f"clearance policy test {path}", junit_cases).decode()
