"""Remediation hints: for each reason a block or approve rests on, what would clear it — the
exception as a command the CLI really parses, the console link, the nodes to keep off — and
nothing for a proceed. Hints are never part of the decision's bytes."""

from __future__ import annotations

import dataclasses
import shlex
from datetime import timedelta

from builders import NOW, POLICY_YAML, signal, target
from clearance.cli import build_parser
from clearance.engine import decide
from clearance.model import Severity, SourceHealth
from clearance.policy.compiled import Policy
from clearance.policy.load import load_policy_text
from clearance.render.hints import hints
from clearance.render.text import render_text
from unit.test_engine import snap

RULES = """  - name: too-many-findings
    scope: decision
    when: size(signals) >= 2
    verdict: approve
    message: Two findings at once
"""


def policy() -> Policy:
    return load_policy_text(POLICY_YAML + RULES, "p")


def parsed(command: str) -> dict[str, object]:
    argv = shlex.split(command)
    assert argv[0] == "clearance"
    return vars(build_parser(argv[1:]).parse_args(argv[1:]))


def test_a_blocking_detection_gets_its_exception_its_link_and_the_node_to_avoid() -> None:
    tgt = target(workload="deployment/api")
    hot = signal("edr:1", severity=Severity.CRITICAL, confidence=1.0, age=timedelta(minutes=5))
    hot = dataclasses.replace(hot, url="https://edr/1")
    d = decide(tgt, snap(tgt, [hot]), policy(), NOW)
    by_reason = {h.reason: h for h in hints(d)}
    rule = by_reason["rule:critical-detection-near-target"]
    assert rule.url == "https://edr/1"
    assert rule.command is not None
    args = parsed(rule.command)
    assert (args["signal"], args["env"], args["cluster"], args["namespace"], args["workload"]) == (
        "edr:1", "production", "prod-eu", "shop", "deployment/api"
    )  # fmt: skip
    assert "node-1" in by_reason["scheduling"].text
    assert "operator: NotIn" in by_reason["scheduling"].text
    assert "What would clear it" in render_text(d)
    assert "hints" not in d.to_dict()


def test_a_decision_rule_gets_a_rule_exception_and_a_stance_gets_no_command() -> None:
    tgt = target()
    two = [signal("edr:1", severity=Severity.LOW), signal("edr:2", severity=Severity.LOW)]
    stale = (SourceHealth(name="edr", last_success=NOW - timedelta(hours=2)),)
    d = decide(tgt, snap(tgt, two, sources=stale), policy(), NOW)
    by_reason = {h.reason: h for h in hints(d)}
    rule = by_reason["rule:too-many-findings"]
    assert rule.command is not None
    assert parsed(rule.command)["rule"] == "too-many-findings"
    assert by_reason["stance:stale"].command is None
    assert "never waived by an exception" in by_reason["stance:stale"].text


def test_a_proceed_has_no_hints() -> None:
    tgt = target()
    assert hints(decide(tgt, snap(tgt, []), policy(), NOW)) == ()
