"""CEL rules: errors are located inside the ``when:`` text, whatever its YAML style, and the
example policy's rules compile and decide as their comments promise (with the real ``cel``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clearance.errors import PolicyError
from clearance.policy.load import load_policy, load_policy_text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "policies"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "policy.yaml"
MINIMAL = (FIXTURES / "minimal.yaml").read_text()


def first_problem(text: str) -> tuple[int, int, str]:
    with pytest.raises(PolicyError) as err:
        load_policy_text(text, "policy.yaml")
    (p,) = err.value.problems
    return p.line, p.column, p.message


def position(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


@pytest.mark.parametrize(
    ("rule", "occurrence"), [("plain", 0), ("literal", 1), ("folded", 2), ("quoted", 3)]
)
def test_a_syntax_error_is_located_on_its_token(rule: str, occurrence: int) -> None:
    spot = [m.start() for m in re.finditer(r"&& proximity", MINIMAL)][occurrence]
    text = MINIMAL[:spot] + "&& ) proximity" + MINIMAL[spot + len("&& proximity") :]
    line, column, message = first_problem(text)
    assert (line, column) == position(text, spot + 3)  # the stray ')'
    assert message.startswith(f"invalid CEL in rule {rule!r}: Syntax error")


def test_a_plain_scalar_over_two_lines_continues_on_the_second() -> None:
    text = MINIMAL.replace(
        '    when: signal.severity >= 5 && proximity == "host"\n',
        '    when: signal.severity >= 5\n      && proximity == == "host"\n',
    )
    line, column, _ = first_problem(text)
    spot = text.index("== ==") + 3
    assert (line, column) == position(text, spot)


def test_a_double_quoted_scalar_counts_its_quote() -> None:
    text = MINIMAL.replace(
        "    when: 'signal.severity >= 5 && proximity == \"host\"'",
        '    when: "signal.severity >= 5 && ) proximity"',
    )
    line, column, _ = first_problem(text)
    assert (line, column) == position(text, text.index("&& )") + 3)


def test_an_unknown_variable_is_located_where_it_is_used() -> None:
    text = MINIMAL.replace(
        '&& proximity == "host"\n    verdict: block\n    message: plain',
        '&& proximty == "host"\n    verdict: block\n    message: plain',
    )
    line, column, message = first_problem(text)
    assert (line, column) == position(text, text.index("proximty"))
    assert "unknown variable(s) proximty" in message
    assert "can use environment, now, proximity, signal, target" in message


def test_a_decision_scope_variable_in_a_signal_rule_is_unknown() -> None:
    text = MINIMAL.replace("signal.severity >= 5 && proximity", "score > 5 && proximity", 1)
    _, _, message = first_problem(text)
    assert "unknown variable(s) score" in message


def test_an_unknown_signal_field_is_located_on_the_field() -> None:
    text = MINIMAL.replace(
        "      signal.severity >= 5\n      &&", "      signal.sevrity >= 5\n      &&"
    )
    line, column, message = first_problem(text)
    assert (line, column) == position(text, text.index("sevrity"))
    assert "unknown signal field(s) sevrity" in message


def test_macro_bound_names_are_not_unknown() -> None:
    text = MINIMAL + (
        "  - name: two-hosts\n    scope: decision\n"
        '    when: signals.filter(s, s.proximity == "host").size() >= 2\n'
        "    verdict: approve\n    message: m\n"
    )
    assert len(load_policy_text(text, "p").rules) == 5


# The maps the engine passes (docs/policy.md, "CEL variables").
def signal(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uid": "edr:1", "source": "edr", "kind": "detection", "title": "Credential dumping",
        "rule": "", "severity": 5, "severity_label": "critical", "confidence": 0.4,
        "status": "new", "age_seconds": 3 * 86400, "age": timedelta(days=3), "count": 1,
        "techniques": ["T1003"], "assets": ["host:node-1"], "tracked": True,
        "first_seen": datetime(2026, 11, 25, tzinfo=UTC),
        "last_seen": datetime(2026, 11, 25, tzinfo=UTC),
        "epss": -1.0, "epss_percentile": -1.0, "fix_available": False, "change": "",
    }  # fmt: skip
    return base | over


TARGET = {
    "environment": "production", "cluster": "prod-eu", "namespace": "shop",
    "workload": "deployment/checkout", "images": ["ghcr.io/acme/checkout:1.8.0"],
}  # fmt: skip


def fires(name: str, variables: dict[str, Any]) -> bool:
    (rule,) = [r for r in load_policy(EXAMPLE).rules if r.rule.name == name]
    return rule.fires({k: v for k, v in variables.items() if k in rule.variables})


def signal_scope(sig: dict[str, Any], proximity: str) -> dict[str, Any]:
    return {"signal": sig, "proximity": proximity, "target": TARGET, "environment": "production"}


@pytest.mark.parametrize(
    ("sig", "proximity", "expected"),
    [
        (signal(), "host", True),  # old and unsure, still critical on the node
        (signal(severity=6), "direct", True),
        (signal(kind="incident"), "host", True),
        (signal(severity=4), "host", False),  # high, not critical: the score decides
        (signal(), "namespace", False),
        (signal(kind="vulnerability"), "direct", False),
        # An event stream's finding is never closed: it counts for a day, then only by score.
        (signal(tracked=False, age=timedelta(hours=3), age_seconds=3 * 3600), "host", True),
        (signal(tracked=False), "host", False),
    ],
)
def test_the_critical_detection_rule(sig: dict[str, Any], proximity: str, expected: bool) -> None:
    assert fires("critical-detection-near-target", signal_scope(sig, proximity)) is expected


def test_the_known_exploited_rule_fires_on_the_image_only() -> None:
    kev = signal(kind="known_exploited", assets=["image:ghcr.io/acme/checkout:1.8.0"])
    assert fires("known-exploited-in-image", signal_scope(kev, "direct"))
    assert not fires("known-exploited-in-image", signal_scope(kev, "namespace"))
    # Never block the fix: a known-exploited CVE the deploy removes does not hold it back.
    fixed = kev | {"change": "fixed"}
    assert not fires("known-exploited-in-image", signal_scope(fixed, "direct"))
    assert fires("known-exploited-in-image", signal_scope(kev | {"change": "unchanged"}, "direct"))
    assert not fires("known-exploited-in-image", signal_scope(signal(), "direct"))


def test_the_decision_scope_rule_reads_the_score() -> None:
    decision = {
        "signals": [signal() | {"proximity": "host", "contribution": 0.3}],
        "sources": {"edr": {"state": "fresh", "age_seconds": 60}},
        "target": TARGET,
        "environment": "production",
    }
    assert fires("near-certain-compromise", decision | {"score": 95.0})
    assert not fires("near-certain-compromise", decision | {"score": 89.9})
