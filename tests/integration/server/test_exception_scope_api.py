"""Exceptions granted at run time are checked against the policy (issue #11, observation 15):
no wildcard scope, a real rule of the policy (never a failure stance), a bounded lifetime. Each
refusal is a 422 naming the field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from server_harness import Live

RULE = "critical-detection-near-target"  # the policy's one rule, production only


def _iso(server: Live, **delta: float) -> str:
    return (server.clock.now + timedelta(**delta)).isoformat().replace("+00:00", "Z")


def _body(server: Live, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "rule": RULE,
        "environment": "production",
        "cluster": "prod-eu",
        "namespace": "shop",
        "workload": "deployment/hot",
        "expires": _iso(server, days=7),
        "reason": "known lab host",
        "ticket": "SEC-42",
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def _create(server: Live, body: dict[str, Any]) -> Any:
    with server.client("root") as c:
        return c.post("/v1/exceptions", json=body)


@pytest.mark.parametrize(
    ("extra", "field", "says"),
    [
        ({"cluster": "*"}, "body.cluster", "wildcard"),
        ({"namespace": "sh?p"}, "body.namespace", "wildcard"),
        ({"workload": "deployment/*"}, "body.workload", "wildcard"),
        ({"rule": None, "signal": "edr:[12]"}, "body.signal", "wildcard"),
        ({"rule": "stance:source_down"}, "body.rule", "failure stance"),
        ({"rule": "stale"}, "body.rule", "failure stance"),
        ({"rule": "rule:" + RULE}, "body.rule", "not a rule of the policy"),
        ({"rule": "no-such-rule"}, "body.rule", "not a rule of the policy"),
        ({"environment": "development"}, "body.rule", "does not apply in 'development'"),
        ({"environment": "prod*"}, "body.environment", "not in the policy"),
        ({"expires": "2999-01-01T00:00:00Z"}, "body.expires", "at most|at the latest"),
        ({"expires": "9999-12-31T23:59:59-14:00"}, "body.expires", "beyond"),
    ],
)
def test_a_scope_that_bends_is_refused_naming_the_field(
    live: Callable[..., Live], extra: dict[str, Any], field: str, says: str
) -> None:
    server = live()
    refused = _create(server, _body(server, **extra))
    assert refused.status_code == 422, refused.text
    problems = refused.json()["errors"]
    mentioned = [p for p in problems if p["field"] == field]
    assert mentioned, problems
    assert any(any(s in p["problem"] for s in says.split("|")) for p in mentioned), problems
    with server.client("root") as c:
        assert c.get("/v1/exceptions", params={"include_inactive": True}).json() == {
            "exceptions": []
        }


def test_the_lifetime_is_bounded_by_the_policy(live: Callable[..., Live]) -> None:
    server = live()
    too_long = _create(server, _body(server, expires=_iso(server, days=30, minutes=1)))
    assert too_long.status_code == 422
    assert "environments.production.exceptions.max_lifetime" in too_long.json()["detail"]
    within = _create(server, _body(server, expires=_iso(server, days=30)))
    assert within.status_code == 201, within.text


def test_a_rule_of_the_policy_is_waived_on_its_target(live: Callable[..., Live]) -> None:
    server = live()
    server.push(server.signal("2", 5, "hot"))
    before = server.ask("hot")
    assert any(r["code"] == f"rule:{RULE}" for r in before["decision"]["reasons"])
    made = _create(server, _body(server))
    assert made.status_code == 201, made.text
    server.clock.advance(seconds=1)
    after = server.ask("hot")
    [reason] = [r for r in after["decision"]["reasons"] if r["code"] == f"rule:{RULE}"]
    assert reason["waived_by"] == made.json()["exception"]["id"]
