"""Argo Rollouts web metric and Flagger webhooks through the real endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from integration.integrations.argo_conditions import condition, evaluate, json_path
from integration.integrations.integrations_harness import (
    FIXTURES,
    TOKEN,
    AppUnderTest,
    BrokenDecider,
    build_app,
    serve,
)

ROOT = FIXTURES.parents[1]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def base(test_app: AppUnderTest) -> Iterator[str]:
    with serve(test_app.app) as url:
        yield url


def template_metric() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "examples/argo/analysis-template.yaml").read_text())
    metric: dict[str, Any] = doc["spec"]["metrics"][0]
    return metric


# --- the evaluator is pinned to Argo's recorded behaviour first --------------------------------


def test_the_evaluator_reproduces_the_recorded_failed_analysis_run() -> None:
    run = yaml.safe_load((FIXTURES / "argo-rollouts/analysisrun.web-failed.yaml").read_text())
    metric = run["spec"]["metrics"][0]
    # jsonplaceholder.typicode.com/todos/1 answers {"completed": false, …}; Argo recorded
    # measurement value "false" and phase Failed.
    body = b'{"userId": 1, "id": 1, "title": "delectus aut autem", "completed": false}'
    assert json.dumps(json_path(metric["provider"]["web"]["jsonPath"], json.loads(body))) == "false"
    assert evaluate(metric, body) == run["status"]["metricResults"][0]["measurements"][0]["phase"]


def test_the_evaluator_reads_the_inconclusive_fixture_as_argo_documents() -> None:
    doc = yaml.safe_load(
        (FIXTURES / "argo-rollouts/analysistemplate-web-background-inconclusive.yaml").read_text()
    )
    metric = doc["spec"]["metrics"][0]
    assert evaluate(metric, b'{"Status": 0, "Answer": []}') == "Inconclusive"
    assert condition("result.major == '1'", {"major": "1"})
    assert not condition('result == "true"', False)


# --- Argo ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "verdict", "phase"),
    [
        ("environment=production&namespace=shop&workload=deployment/checkout", "block", "Failed"),
        ("environment=staging&namespace=stage&workload=deployment/web", "approve", "Inconclusive"),
        (
            "environment=production&namespace=shop&workload=deployment/ledger",
            "proceed",
            "Successful",
        ),
    ],
)
def test_argo_conditions_on_real_responses(base: str, query: str, verdict: str, phase: str) -> None:
    reply = httpx.get(f"{base}/v1/integrations/argo/measurement?{query}", headers=AUTH)
    assert reply.status_code == 200
    assert reply.json()["verdict"] == verdict
    assert evaluate(template_metric(), reply.content) == phase


def test_argo_post_with_json_body_and_the_rollout_name(base: str, test_app: AppUnderTest) -> None:
    body = {
        "environment": "production",
        "namespace": "shop",
        "workload": "checkout",
        "images": ["ghcr.io/acme/checkout:1.9.0"],
        "revision": "db976bc44",
    }
    reply = httpx.post(f"{base}/v1/integrations/argo/measurement", json=body, headers=AUTH)
    assert reply.status_code == 200
    target, caller, recorded = test_app.deps.decider.calls[-1]  # type: ignore[attr-defined]
    assert str(target.workload) == "rollout/checkout"
    assert target.change.pipeline_run == "db976bc44"
    assert caller.subject == "token:pipeline"
    assert recorded is True


def test_argo_refuses_without_a_credential(base: str, test_app: AppUnderTest) -> None:
    reply = httpx.get(f"{base}/v1/integrations/argo/measurement?namespace=shop&workload=a/b")
    assert reply.status_code == 401
    assert test_app.deps.decider.calls == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("workload=deployment/x", 400, "namespace"),
        ("namespace=shop&workload=deployment/x", 400, "environment"),
        ("namespace=shop&workload=deployment/x&environment=prod&colour=red", 400, "colour"),
        ("namespace=shop&workload=deployment/x&environment=nowhere", 422, "environment"),
    ],
)
def test_argo_bad_queries_name_the_field(base: str, query: str, status: int, field: str) -> None:
    reply = httpx.get(f"{base}/v1/integrations/argo/measurement?{query}", headers=AUTH)
    assert reply.status_code == status
    assert reply.json()["errors"][0]["field"] == field


# --- Flagger ------------------------------------------------------------------------------------


def flagger_payload(**metadata: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (FIXTURES / "flagger/webhook-payload.docs-example.json").read_text()
    )
    data["metadata"].update(metadata)
    return data


def test_the_docs_payload_with_its_own_token_is_refused(base: str) -> None:
    reply = httpx.post(f"{base}/v1/integrations/flagger/confirm-rollout", json=flagger_payload())
    assert reply.status_code == 401


def test_flagger_proceed_is_200_and_records_the_checksum(base: str, test_app: AppUnderTest) -> None:
    # namespace "test" → development; podinfo is not in the inventory → proceed with a warning
    reply = httpx.post(
        f"{base}/v1/integrations/flagger/confirm-rollout", json=flagger_payload(token=TOKEN)
    )
    assert reply.status_code == 200
    target, _, _ = test_app.deps.decider.calls[-1]  # type: ignore[attr-defined]
    assert str(target.workload) == "deployment/podinfo"
    assert target.change.pipeline_run == "85d557f47b"
    degraded = test_app.metrics.registry.get_sample_value(
        "clearance_integration_degraded_verdicts_total",
        {"integration": "flagger", "environment": "development", "verdict": "proceed"},
    )
    assert degraded == 1.0


@pytest.mark.parametrize(
    ("hook", "meta", "verdict"),
    [
        ("pre-rollout", {"environment": "production", "workload": "deployment/checkout"}, "block"),
        ("confirm-promotion", {"environment": "staging", "workload": "deployment/web"}, "approve"),
    ],
)
def test_flagger_block_and_approve_hold_with_403(
    base: str, hook: str, meta: dict[str, str], verdict: str
) -> None:
    payload = flagger_payload(token=TOKEN, **meta)
    payload["namespace"] = "shop" if verdict == "block" else "stage"
    reply = httpx.post(f"{base}/v1/integrations/flagger/{hook}", json=payload)
    assert reply.status_code == 403
    assert f"Clearance {hook}: {verdict}" in reply.text


def test_flagger_bad_input(base: str) -> None:
    unknown = httpx.post(f"{base}/v1/integrations/flagger/rollback", json=flagger_payload())
    assert unknown.status_code == 404
    nameless = flagger_payload(token=TOKEN)
    del nameless["name"]
    reply = httpx.post(f"{base}/v1/integrations/flagger/confirm-rollout", json=nameless)
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["field"] == "name"
    bad_image = flagger_payload(token=TOKEN, images="UPPER CASE:::")
    reply = httpx.post(f"{base}/v1/integrations/flagger/confirm-rollout", json=bad_image)
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["field"] == "metadata.images"


# --- any failure: the fail-closed form, never a 500 ----------------------------------------------


def test_a_failure_while_deciding_is_an_argo_error_and_a_flagger_hold(
    test_app: AppUnderTest,
) -> None:
    test_app.deps.decider = BrokenDecider()
    with serve(build_app(test_app.deps)) as url:
        argo = httpx.get(
            f"{url}/v1/integrations/argo/measurement?namespace=shop&workload=deployment/checkout"
            "&environment=production",
            headers=AUTH,
        )
        flagger = httpx.post(
            f"{url}/v1/integrations/flagger/pre-rollout", json=flagger_payload(token=TOKEN)
        )
    assert argo.status_code == 503  # an Error measurement: retried, then the analysis fails
    assert flagger.status_code == 403  # hold
    assert "cannot decide" in flagger.text


@pytest.mark.parametrize("depth", [100, 5_000])
def test_deeply_nested_bodies_are_400_never_a_recursion_error(base: str, depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    for path in ("argo/measurement", "flagger/pre-rollout"):
        reply = httpx.post(
            f"{base}/v1/integrations/{path}",
            content=body,
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert reply.status_code == 400, path
