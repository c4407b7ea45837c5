"""Run-time exception scopes against the policy, with each environment's own lifetime bound."""

from __future__ import annotations

from datetime import timedelta

import yaml

from builders import NOW, POLICY_YAML, make_policy
from clearance.service.exception_rules import ExceptionScope, problems


def _scope(**extra: object) -> ExceptionScope:
    values: dict[str, object] = {
        "environment": "production",
        "cluster": "prod-eu",
        "namespace": "shop",
        "workload": "deployment/api",
        "signal": "edr:1",
        "rule": None,
        "expires": NOW + timedelta(days=5),
    }
    values.update(extra)
    return ExceptionScope(**values)  # type: ignore[arg-type]


def test_each_environment_bounds_its_own_lifetimes() -> None:
    document = yaml.safe_load(POLICY_YAML)
    document["environments"]["production"]["exceptions"] = {"max_lifetime": "3d"}
    policy = make_policy(yaml.safe_dump(document))
    assert [f for f, _ in problems(_scope(), policy, NOW)] == ["expires"]
    assert (
        problems(_scope(environment="development", expires=NOW + timedelta(days=29)), policy, NOW)
        == []
    )
    assert problems(_scope(expires=NOW + timedelta(days=3)), policy, NOW) == []


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        _scope(cluster="*", namespace="s[h]op", rule="stance:stale", expires=NOW),
        make_policy(),
        NOW,
    )
    assert [f for f, _ in found] == ["signal", "cluster", "namespace", "rule", "expires"]
