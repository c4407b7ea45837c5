"""The integrations mounted on the real service app with ``mount``: decisions through the
DecisionService, approvals turning an admission denial into an allowance, counters on /metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clearance.integrations.settings import IntegrationSettings
from clearance.server.app import create_app
from clearance.server.routes.integrations import mount
from clearance.store.interface import ApprovalOutcome, Caller, Scope
from clearance.store.sql import SqlStore
from integration.integrations.integrations_harness import (
    FIXTURES,
    NOW,
    serve,
    service_context,
    write_scenario,
)

URL = "/v1/integrations/k8s/admission"


@dataclass
class Mounted:
    url: str
    store: SqlStore
    ctx: Any
    headers: dict[str, str]


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Mounted]:
    scenario = tmp_path / "scenario"
    scenario.mkdir()
    write_scenario(scenario)
    store = SqlStore.open(f"sqlite:///{tmp_path / 'service.db'}")
    ctx = service_context(scenario, store)
    app: FastAPI = create_app(ctx)
    settings = IntegrationSettings.model_validate(
        {
            "admission": {
                "cluster": "prod-eu",
                "namespaces": {"shop": "production", "stage": "staging"},
            }
        }
    )
    mount(app, ctx, settings)
    # The API server's webhook kubeconfig carries a token (admission is authenticated).
    _, secret = store.create_token("kube-apiserver", [Scope.DECIDE], NOW)
    with serve(app) as url:
        yield Mounted(url, store, ctx, {"Authorization": f"Bearer {secret}"})
    store.close()


def review(namespace: str, name: str, dry_run: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (FIXTURES / "admission/admissionreview.v1.deployment-create.kube-review.json").read_text()
    )
    request = data["request"]
    request |= {"namespace": namespace, "name": name, "dryRun": dry_run}
    request["userInfo"]["username"] = "deployer"
    return data


def test_denied_until_approved_then_allowed(mounted: Mounted) -> None:
    first = httpx.post(
        mounted.url + URL, headers=mounted.headers, json=review("stage", "web")
    ).json()["response"]
    assert first["allowed"] is False
    decision_id = first["auditAnnotations"]["decision-id"]
    approver = Caller("alice", "token", groups=("engineering",))
    mounted.ctx.approvals.answer(decision_id, approver, ApprovalOutcome.APPROVE, "ok", NOW)
    again = httpx.post(
        mounted.url + URL, headers=mounted.headers, json=review("stage", "web")
    ).json()["response"]
    assert again["allowed"] is True
    assert again["auditAnnotations"]["status"] == "approved"


def test_recorded_through_the_service_and_dry_runs_are_not(mounted: Mounted) -> None:
    dry = httpx.post(
        mounted.url + URL, headers=mounted.headers, json=review("shop", "checkout", dry_run=True)
    ).json()
    assert dry["response"]["allowed"] is False
    assert mounted.store.list_decisions().records == ()
    httpx.post(mounted.url + URL, headers=mounted.headers, json=review("shop", "checkout"))
    [record] = mounted.store.list_decisions().records
    assert record.caller["subject"] == "user:kube-apiserver"  # the credential, not the body
    assert record.decision["target"]["change"]["actor"] == "deployer"


def test_integration_counters_are_on_the_service_metrics(mounted: Mounted) -> None:
    httpx.post(mounted.url + URL, headers=mounted.headers, json=review("shop", "checkout"))
    text = httpx.get(mounted.url + "/metrics").text
    assert (
        'clearance_integration_verdicts_total{environment="production",'
        'integration="admission",verdict="block"} 1.0' in text
    )
    assert 'clearance_decisions_total{environment="production",verdict="block"} 1.0' in text


def test_argo_requires_the_services_credentials(mounted: Mounted) -> None:
    reply = httpx.get(
        mounted.url + "/v1/integrations/argo/measurement?namespace=shop&workload=deployment/x"
    )
    assert reply.status_code == 401
    unconfigured = httpx.post(mounted.url + "/v1/integrations/github/webhook", content=b"{}")
    assert unconfigured.status_code == 404
