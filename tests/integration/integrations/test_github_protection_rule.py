"""GitHub custom deployment protection rule end to end: signed delivery → 202 → decision →
callback to a stand-in GitHub API as the App (JWT verified with the public key)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clearance.integrations.github_app import GitHubApp
from clearance.integrations.github_gates import GitHubGates
from clearance.integrations.metrics import IntegrationMetrics
from clearance.integrations.settings import IntegrationSettings
from clearance.model.status import ApprovalStatus
from clearance.server.routes.integrations import IntegrationDeps
from integration.integrations.integrations_harness import (
    FIXTURES,
    NOW,
    TOKEN,
    EngineDecider,
    authenticate,
    build_app,
    serve,
)
from standins._server import Loopback
from standins.github_api import GitHubApiHandler, GitHubApiState

SECRET = "webhook-secret-for-tests"
APP_ID = "Iv23liCLEARANCE"
INSTALLATION = 4242
URL = "/v1/integrations/github/webhook"


@dataclass
class World:
    base: str
    api: str
    github: GitHubApiState
    gates: GitHubGates
    decider: EngineDecider
    sleeps: list[float]


@pytest.fixture
def world(decider: EngineDecider) -> Iterator[World]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    state = GitHubApiState(APP_ID, public, NOW, installations={INSTALLATION})
    with Loopback(GitHubApiHandler, state) as api:
        mapping = {
            "environment": "production",
            "cluster": "prod-eu",
            "namespace": "shop",
            "workload": "deployment/checkout",
            "images": ["ghcr.io/acme/checkout:{sha}"],
        }
        settings = IntegrationSettings.model_validate(
            {
                "console_url": "https://clearance.test",
                "github": {
                    "app_id": APP_ID,
                    "private_key": private,
                    "webhook_secret": SECRET,
                    "api_url": api,
                    "retries": 3,
                    "backoff_seconds": 0.5,
                    "environments": {
                        "Codertocat/Hello-World:my-environment": mapping,
                        "staging": {
                            **mapping,
                            "environment": "staging",
                            "namespace": "stage",
                            "workload": "deployment/web",
                            "images": [],
                        },
                        "production": {**mapping, "workload": "deployment/ledger", "images": []},
                    },
                },
            }
        )
        assert settings.github is not None
        sleeps: list[float] = []
        app = GitHubApp(settings.github, clock=lambda: NOW, sleep=sleeps.append)
        metrics = IntegrationMetrics()
        gates = GitHubGates(decider, app, settings, metrics)
        deps = IntegrationDeps(decider, settings, authenticate, metrics, github=gates)
        with serve(build_app(deps)) as base:
            yield World(base, api, state, gates, decider, sleeps)
        app.close()


def payload(world: World, environment: str = "my-environment") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (FIXTURES / "github/deployment_protection_rule.requested.payload.json").read_text()
    )
    # The octokit payload is synthetic: a real delivery names the API callback and installation.
    data["deployment_callback_url"] = (
        f"{world.api}/repos/Codertocat/Hello-World/actions/runs/42/deployment_protection_rule"
    )
    data["installation"] = {"id": INSTALLATION, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u"}
    data["environment"] = environment
    return data


def deliver(world: World, body: bytes, signature: str | None = None) -> httpx.Response:
    sig = signature or "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": "deployment_protection_rule",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": sig,
        "Content-Type": "application/json",
    }
    return httpx.post(world.base + URL, content=body, headers=headers)


def wait_for_reviews(world: World, count: int) -> list[dict[str, Any]]:
    for _ in range(500):
        if len(world.github.reviews) >= count:
            break
        time.sleep(0.01)
    return world.github.reviews


def test_block_is_rejected_as_the_app_with_the_reasons(world: World) -> None:
    reply = deliver(world, json.dumps(payload(world)).encode())
    assert reply.status_code == 202
    [review] = wait_for_reviews(world, 1)
    assert (
        review["path"] == "/repos/Codertocat/Hello-World/actions/runs/42/deployment_protection_rule"
    )
    body = review["body"]
    assert body["environment_name"] == "my-environment"
    assert body["state"] == "rejected"
    assert "Clearance: block" in body["comment"]
    assert "critical detection" in body["comment"].lower()
    assert len(body["comment"]) <= 1024
    [claims] = world.github.jwt_claims  # the stand-in verified it with the App's public key
    assert claims["iss"] == APP_ID
    assert claims["iat"] == int(NOW.timestamp()) - 60
    assert claims["exp"] - claims["iat"] <= 600


def test_the_decision_is_recorded_with_the_app_as_caller_and_the_sender_as_actor(
    world: World,
) -> None:
    deliver(world, json.dumps(payload(world)).encode())
    wait_for_reviews(world, 1)
    [record] = world.decider.store.list_decisions().records
    assert record.caller["subject"] == f"github-app:installation/{INSTALLATION}"
    change = record.decision["target"]["change"]
    assert change["actor"] == "Codertocat"
    assert change["commit"] == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert change["pipeline_run"] == "Codertocat/Hello-World/actions/runs/42"
    assert record.decision["target"]["images"] == [
        "ghcr.io/acme/checkout:f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    ]


def test_proceed_is_approved(world: World) -> None:
    deliver(world, json.dumps(payload(world, "production")).encode())
    [review] = wait_for_reviews(world, 1)
    assert review["body"]["state"] == "approved"
    assert review["body"]["environment_name"] == "production"


def test_approve_reports_status_then_finishes_once_approved(world: World) -> None:
    deliver(world, json.dumps(payload(world, "staging")).encode())
    [first] = wait_for_reviews(world, 1)
    assert "state" not in first["body"]  # a status report: the gate stays pending
    assert "waiting for 1 approval(s) from `engineering`" in first["body"]["comment"]
    [record] = world.decider.store.list_decisions().records
    assert world.gates.finish(record.decision_id, ApprovalStatus.PENDING_APPROVAL) is None
    delivery = world.gates.finish(record.decision_id, ApprovalStatus.APPROVED)
    assert delivery is not None
    assert delivery.outcome == "delivered"
    second = world.github.reviews[1]["body"]
    assert second["state"] == "approved"
    assert record.decision_id in second["comment"]
    assert world.gates.finish(record.decision_id, ApprovalStatus.APPROVED) is None  # answered once


def test_a_refused_approval_rejects(world: World) -> None:
    deliver(world, json.dumps(payload(world, "staging")).encode())
    wait_for_reviews(world, 1)
    [record] = world.decider.store.list_decisions().records
    world.gates.finish(record.decision_id, ApprovalStatus.REJECTED)
    assert world.github.reviews[1]["body"]["state"] == "rejected"


def test_a_bad_signature_is_401_and_nothing_is_decided(world: World) -> None:
    body = json.dumps(payload(world)).encode()
    forged = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
    assert deliver(world, body, forged).status_code == 401
    assert deliver(world, body, "sha1=abc").status_code == 401
    time.sleep(0.05)
    assert world.decider.calls == []
    assert world.github.reviews == []
    assert world.decider.store.list_decisions().records == ()


def test_a_signed_but_malformed_payload_is_400_naming_the_field(world: World) -> None:
    data = payload(world)
    del data["deployment_callback_url"]
    reply = deliver(world, json.dumps(data).encode())
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["field"] == "deployment_callback_url"
    reply = deliver(world, b"{oops")
    assert reply.status_code == 400
    assert world.decider.calls == []


def test_an_unmapped_environment_is_rejected_with_the_reason(world: World) -> None:
    deliver(world, json.dumps(payload(world, "qa")).encode())
    [review] = wait_for_reviews(world, 1)
    assert review["body"]["state"] == "rejected"
    assert "no Clearance target is mapped to Codertocat/Hello-World:qa" in review["body"]["comment"]
    assert world.decider.calls == []


def test_a_failing_callback_is_retried_with_backoff(world: World) -> None:
    world.github.scripted.queue(502, b'{"message": "Server Error"}')
    world.github.scripted.queue(503, b'{"message": "Service Unavailable"}')
    deliver(world, json.dumps(payload(world)).encode())
    [review] = wait_for_reviews(world, 1)
    assert review["body"]["state"] == "rejected"
    assert world.sleeps == [0.5, 1.0]
    [record] = world.decider.store.list_decisions().records
    reply = httpx.get(
        f"{world.base}/v1/integrations/github/deliveries/{record.decision_id}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    [delivery] = reply.json()["deliveries"]
    assert [a["status"] for a in delivery["attempts"]] == [502, 503, 204]
    assert delivery["outcome"] == "delivered"
    assert len(world.github.jwt_claims) == 1  # the installation token was cached


def test_a_callback_that_keeps_failing_is_visible(world: World) -> None:
    for _ in range(4):
        world.github.scripted.queue(500, b'{"message": "Server Error"}')
    deliver(world, json.dumps(payload(world)).encode())
    for _ in range(500):
        failed = world.gates.app.log.failed()
        if failed:
            break
        time.sleep(0.01)
    reply = httpx.get(
        f"{world.base}/v1/integrations/github/deliveries",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    [item] = reply.json()["failed"]
    assert item["outcome"] == "failed"
    assert [a["status"] for a in item["attempts"]] == [500, 500, 500, 500]
    assert world.sleeps == [0.5, 1.0, 2.0]
    unauthenticated = httpx.get(f"{world.base}/v1/integrations/github/deliveries")
    assert unauthenticated.status_code == 401


def test_the_installation_token_never_leaves_for_another_host(world: World) -> None:
    data = payload(world)
    data["deployment_callback_url"] = "https://attacker.example/collect"
    deliver(world, json.dumps(data).encode())
    for _ in range(500):
        if world.gates.app.log.failed():
            break
        time.sleep(0.01)
    [item] = world.gates.app.log.failed()
    assert item["attempts"][0]["error"] == "callback URL is not on api_url"
    assert world.github.jwt_claims == []
