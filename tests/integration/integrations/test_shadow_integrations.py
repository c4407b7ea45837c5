"""Shadow mode through every integration: each lets the deploy through and says what enforcing
would have done, while the decision is recorded exactly as when enforcing (the same verdict,
plus ``mode: shadow``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from clearance.integrations.github import Gate, review_body
from clearance.integrations.metrics import IntegrationMetrics
from clearance.integrations.settings import IntegrationSettings
from clearance.server.routes.integrations import IntegrationDeps
from clearance.store.sql import SqlStore
from integration.integrations.conftest import SETTINGS
from integration.integrations.integrations_harness import (
    FIXTURES,
    TOKEN,
    AppUnderTest,
    EngineDecider,
    Tls,
    authenticate,
    build_app,
    serve,
    write_scenario,
)
from integration.integrations.test_admission import kube_review, post

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def shadow_scenario(directory: Path) -> Path:
    """The integrations' scenario with production and staging observing only."""
    config = write_scenario(directory)
    policy_path = directory / "policy.yaml"
    policy = yaml.safe_load(policy_path.read_text())
    for name in ("production", "staging"):
        policy["environments"][name]["mode"] = "shadow"
    policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return config


@pytest.fixture
def shadow_app(tmp_path: Path, audit_store: SqlStore) -> AppUnderTest:
    scenario = tmp_path / "shadow"
    scenario.mkdir()
    metrics = IntegrationMetrics()
    deps = IntegrationDeps(
        decider=EngineDecider(shadow_scenario(scenario), audit_store),
        settings=IntegrationSettings.model_validate(SETTINGS),
        authenticate=authenticate,
        metrics=metrics,
    )
    return AppUnderTest(build_app(deps), deps, metrics)


@pytest.fixture
def plain(shadow_app: AppUnderTest) -> Iterator[str]:
    with serve(shadow_app.app) as url:
        yield url


def test_admission_allows_a_would_be_block_and_warns_what_it_would_have_done(
    shadow_app: AppUnderTest, tls: Tls, audit_store: SqlStore
) -> None:
    with serve(shadow_app.app, tls.cert, tls.key, client_ca=tls.ca_pem) as base:
        reply = post(base, tls, kube_review("shop", "checkout", "ghcr.io/acme/checkout:1.0"))
    response = reply.json()["response"]
    assert response["allowed"] is True
    assert "status" not in response  # no denial message
    said = response["warnings"][0]
    assert "shadow mode: would have answered block" in said
    assert response["auditAnnotations"] == {
        "decision-id": response["auditAnnotations"]["decision-id"],
        "verdict": "block",
        "status": "shadow",
    }
    recorded = audit_store.get_decision(response["auditAnnotations"]["decision-id"]).decision
    assert (recorded["verdict"], recorded["mode"]) == ("block", "shadow")


@pytest.mark.parametrize(
    ("query", "would"),
    [
        ("environment=production&namespace=shop&workload=deployment/checkout", "block"),
        ("environment=staging&namespace=stage&workload=deployment/web", "approve"),
    ],
)
def test_argo_measures_successful_and_names_the_would_have_verdict(
    plain: str, query: str, would: str
) -> None:
    reply = httpx.get(f"{plain}/v1/integrations/argo/measurement?{query}", headers=AUTH)
    body = reply.json()
    assert (body["verdict"], body["phase"], body["status"]) == ("proceed", "Successful", "shadow")
    assert body["would_have"] == would


def test_flagger_goes_on_with_200_and_says_it_would_have_held(plain: str) -> None:
    payload: dict[str, Any] = json.loads(
        (FIXTURES / "flagger/webhook-payload.docs-example.json").read_text()
    )
    payload["metadata"].update(
        token=TOKEN, environment="production", workload="deployment/checkout"
    )
    payload["namespace"] = "shop"
    reply = httpx.post(f"{plain}/v1/integrations/flagger/pre-rollout", json=payload)
    assert reply.status_code == 200
    assert "Clearance pre-rollout: proceed (shadow" in reply.text
    assert "would have answered block" in reply.text


def test_an_enforcing_environment_is_untouched(plain: str) -> None:
    query = "environment=development&namespace=dev&workload=deployment/x"
    body = httpx.get(f"{plain}/v1/integrations/argo/measurement?{query}", headers=AUTH).json()
    assert body["status"] == "proceed"
    assert "would_have" not in body


def test_the_github_gate_is_approved_with_a_comment_on_what_would_have_happened(
    shadow_app: AppUnderTest,
) -> None:
    from clearance.model.target import Target
    from clearance.store.interface import Caller

    decider = shadow_app.deps.decider
    ans = decider.decide(
        Target.of("production", "prod-eu", "shop", "deployment/checkout"),
        Caller(subject="github", method="token"),
    )
    gate = Gate("https://api.github.test/callback", "production", 1, "acme/shop", "7")
    body = review_body(gate, ans, None)
    assert body["state"] == "approved"
    assert "would have answered block" in body["comment"]
