"""``clearance policy validate FILE`` and ``clearance policy test DIR``.

``validate`` exits 0 for a usable policy and 3 with every problem (``file:line:col: message``)
otherwise. ``test`` runs table-driven cases (see clearance.policy.testing): 0 when all pass,
1 when any fails, 3 for a bad policy.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    validate = sub.add_parser("validate", help="check a policy file; list every problem")
    validate.add_argument("file", type=Path)
    validate.set_defaults(run=run_validate)
    test = sub.add_parser("test", help="run *_test.yaml policy test cases")
    test.add_argument("path", type=Path, help="a directory of *_test.yaml files, or one file")
    test.add_argument("-v", "--verbose-cases", action="store_true", help="print passing cases too")
    test.set_defaults(run=run_test)


def run_validate(args: argparse.Namespace) -> int:
    from clearance.policy.load import load_policy

    policy = load_policy(args.file)
    doc = policy.document
    print(
        f"ok: {args.file} ({policy.digest}), {len(doc.environments)} environment(s), "
        f"{len(doc.rules)} rule(s), {len(doc.suppressions)} suppression(s), "
        f"{len(doc.exceptions)} exception(s)"
    )
    return 0


def run_test(args: argparse.Namespace) -> int:
    from clearance.policy.testing import discover, run_file

    outcomes = [o for path in discover(args.path) for o in run_file(path)]
    for o in outcomes:
        if o.passed:
            if args.verbose_cases:
                print(f"PASS {o.file.name}: {o.case}")
            continue
        print(f"FAIL {o.file.name}: {o.case}")
        for failure in o.failures:
            print(f"     {failure}")
    failed = sum(1 for o in outcomes if not o.passed)
    print(f"policy tests: {len(outcomes) - failed} passed, {failed} failed")
    return 1 if failed else 0
