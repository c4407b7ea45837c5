"""The GitHub protection rule on the real service: a gate held for approval is answered on
GitHub when the approval is given through the service's own API (``create_app(ctx,
integrations=…)``, as ``clearance serve --integrations`` mounts it)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clearance.integrations.settings import IntegrationSettings
from clearance.model.signal import signal_from_dict
from clearance.server.app import build_context, create_app
from clearance.server.settings import ServerSettings
from clearance.store.interface import Scope
from clearance.store.sql import SqlStore
from integration.integrations.integrations_harness import FIXTURES, NOW, serve, write_scenario
from standins._server import Loopback
from standins.github_api import GitHubApiHandler, GitHubApiState

SECRET = "webhook-secret-for-tests"
APP_ID = "Iv23liCLEARANCE"
INSTALLATION = 4242


@dataclass
class Service:
    url: str
    api: str
    github: GitHubApiState
    tokens: dict[str, str]
    store: SqlStore
    start_replica: Callable[[], AbstractContextManager[str]]


def _keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture
def service(tmp_path: Path, store_url: str) -> Iterator[Service]:
    private, public = _keys()
    scenario = tmp_path / "scenario"
    scenario.mkdir()
    write_scenario(scenario)
    store = SqlStore.open(store_url)  # SQLite and PostgreSQL
    lines = (scenario / "signals.jsonl").read_text().splitlines()
    store.upsert_signals([signal_from_dict(json.loads(line)) for line in lines], NOW)
    store.record_source_success("edr", NOW - timedelta(minutes=1))
    tokens = {
        "alice": store.create_token("alice", (Scope.APPROVE,), NOW)[1],
        "bob": store.create_token("bob", (Scope.APPROVE,), NOW)[1],
        "ci": store.create_token("ci", (Scope.DECIDE,), NOW)[1],
    }
    state = GitHubApiState(APP_ID, public, NOW, installations={INSTALLATION})
    with Loopback(GitHubApiHandler, state) as api:
        integrations = IntegrationSettings.model_validate(
            {
                "github": {
                    "app_id": APP_ID,
                    "private_key": private,
                    "webhook_secret": SECRET,
                    "api_url": api,
                    "retries": 2,
                    "backoff_seconds": 0.01,
                    "environments": {
                        "staging": {
                            "environment": "staging",
                            "cluster": "prod-eu",
                            "namespace": "stage",
                            "workload": "deployment/web",
                        }
                    },
                }
            }
        )
        settings = ServerSettings.model_validate({"token_groups": {"alice": ["engineering"]}})
        ctx = build_context(scenario / "clearance.yaml", store, settings, clock=lambda: NOW)

        @contextmanager
        def replica() -> Iterator[str]:
            """Another process's service over the same database (a worker, a replica)."""
            other = SqlStore.open(store_url)
            octx = build_context(scenario / "clearance.yaml", other, settings, clock=lambda: NOW)
            with serve(create_app(octx, integrations=integrations)) as other_url:
                yield other_url
            octx.close()

        with serve(create_app(ctx, integrations=integrations)) as url:
            yield Service(url, api, state, tokens, store, replica)
        ctx.close()


DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def _signed(
    service: Service, delivery: str = DELIVERY, sha: str | None = None, run: int = 42
) -> tuple[bytes, dict[str, str]]:
    data: dict[str, Any] = json.loads(
        (FIXTURES / "github/deployment_protection_rule.requested.payload.json").read_text()
    )
    data["deployment_callback_url"] = (
        f"{service.api}/repos/Codertocat/Hello-World/actions/runs/{run}/deployment_protection_rule"
    )
    data["installation"] = {"id": INSTALLATION}
    data["environment"] = "staging"
    if sha is not None:
        data["deployment"]["sha"] = sha
    body = json.dumps(data).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": "deployment_protection_rule",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }
    return body, headers


def _post(url: str, signed: tuple[bytes, dict[str, str]]) -> httpx.Response:
    body, headers = signed
    return httpx.post(url + "/v1/integrations/github/webhook", content=body, headers=headers)


def _deliver(service: Service, **kwargs: Any) -> None:
    reply = _post(service.url, _signed(service, **kwargs))
    assert reply.status_code == 202, reply.text


def _reviews(service: Service, count: int) -> list[dict[str, Any]]:
    for _ in range(1000):
        if len(service.github.reviews) >= count:
            break
        time.sleep(0.01)
    assert len(service.github.reviews) >= count, service.github.reviews
    return [r["body"] for r in service.github.reviews]


def _approve(
    service: Service, who: str, decision_id: str, outcome: str, url: str | None = None
) -> httpx.Response:
    return httpx.post(
        f"{url or service.url}/v1/decisions/{decision_id}/approvals",
        json={"outcome": outcome, "reason": "reviewed the KEV finding; patched image next"},
        headers={"Authorization": f"Bearer {service.tokens[who]}"},
    )


def _held_decision(service: Service) -> str:
    [status] = _reviews(service, 1)
    assert "state" not in status  # a status report: the gate stays pending
    [record] = service.store.list_decisions().records
    assert record.decision["verdict"] == "approve"
    return record.decision_id


def test_an_approval_given_on_the_service_approves_the_held_github_gate(
    service: Service,
) -> None:
    _deliver(service)
    decision_id = _held_decision(service)
    # bob may approve but is not in the required group: the gate stays held.
    assert _approve(service, "bob", decision_id, "approve").status_code == 403
    time.sleep(0.2)
    assert len(service.github.reviews) == 1
    assert _approve(service, "alice", decision_id, "approve").status_code == 201
    final = _reviews(service, 2)[1]
    assert final["state"] == "approved"
    assert final["environment_name"] == "staging"
    assert decision_id in final["comment"]


def test_a_rejection_on_the_service_rejects_the_held_github_gate(service: Service) -> None:
    _deliver(service)
    decision_id = _held_decision(service)
    assert _approve(service, "alice", decision_id, "reject").status_code == 201
    final = _reviews(service, 2)[1]
    assert final["state"] == "rejected"


def test_an_approval_recorded_by_another_replica_finishes_the_gate_once(service: Service) -> None:
    _deliver(service)
    decision_id = _held_decision(service)
    with service.start_replica() as other:
        assert _approve(service, "alice", decision_id, "approve", url=other).status_code == 201
        final = _reviews(service, 2)[1]
    assert final["state"] == "approved"
    # The gate is answered once, whichever replica hears of the decision again.
    assert _approve(service, "alice", decision_id, "approve").status_code in (201, 409)
    time.sleep(0.3)
    assert len(service.github.reviews) == 2


def test_the_callbacks_are_shown_with_the_decision_on_any_replica(service: Service) -> None:
    # GitHub is down for the final answer: every retry fails, and that is seen with the decision.
    _deliver(service)
    decision_id = _held_decision(service)
    retries = 2
    for _ in range(retries + 1):
        service.github.scripted.queue(502, b'{"message": "Server Error"}')
    assert _approve(service, "alice", decision_id, "approve").status_code == 201
    with service.start_replica() as other:
        for _ in range(500):
            body = httpx.get(
                f"{other}/v1/decisions/{decision_id}",
                headers={"Authorization": f"Bearer {service.tokens['ci']}"},
            ).json()
            if [c["outcome"] for c in body.get("callbacks", [])] == ["delivered", "failed"]:
                break
            time.sleep(0.02)
    status, final = body["callbacks"]
    assert status["state"] is None  # the status report that held the gate
    assert final["state"] == "approved"
    assert [a["status"] for a in final["attempts"]] == [502] * (retries + 1)


def test_a_replayed_delivery_is_refused_by_every_replica(service: Service) -> None:
    """Issue #11, observation 14: a signed delivery replayed (the same X-GitHub-Delivery, the
    same signed body) is not decided or answered again, here or on another replica."""
    signed = _signed(service)
    assert _post(service.url, signed).status_code == 202
    decision_id = _held_decision(service)
    replay = _post(service.url, signed)
    assert replay.status_code == 409, replay.text
    assert replay.json()["errors"][0]["field"] == "X-GitHub-Delivery"
    with service.start_replica() as other:
        assert _post(other, signed).status_code == 409
    time.sleep(0.3)  # a replay that slipped through would decide and answer in the background
    assert [r.decision_id for r in service.store.list_decisions().records] == [decision_id]
    assert len(service.github.reviews) == 1
    unsigned_id = _signed(service, delivery="")
    assert _post(service.url, unsigned_id).status_code == 400


def test_a_new_deployment_of_another_sha_is_not_auto_approved(service: Service) -> None:
    """Issue #11, observation 6: the approval covers the commit it was given for."""
    _deliver(service)
    first = _held_decision(service)
    assert _approve(service, "alice", first, "approve").status_code == 201
    assert _reviews(service, 2)[1]["state"] == "approved"
    _deliver(service, delivery="another-delivery", sha="0" * 40, run=43)
    third = _reviews(service, 3)[2]
    assert "state" not in third  # a status report: the new gate waits for its own approval
    assert "waiting for 1 approval(s)" in third["comment"]
    newest = service.store.list_decisions().records[0]
    assert newest.decision["target"]["change"]["commit"] == "0" * 40
    with httpx.Client(headers={"Authorization": f"Bearer {service.tokens['ci']}"}) as c:
        now = c.get(f"{service.url}/v1/decisions/{newest.decision_id}").json()
    assert now["status"] == "pending_approval"
    assert any("commit " + "0" * 40 in v["reason"] for v in now["approval"]["voided"])


def test_the_sender_of_the_deployment_cannot_approve_it(service: Service) -> None:
    """GitHub signs who asked for the deployment (``sender``): they requested the decision."""
    _deliver(service)
    decision_id = _held_decision(service)
    record = service.store.get_decision(decision_id)
    assert record.caller["on_behalf_of"] == "user:codertocat"
    _, secret = service.store.create_token("codertocat", (Scope.APPROVE,), NOW)
    refused = httpx.post(
        f"{service.url}/v1/decisions/{decision_id}/approvals",
        json={"outcome": "approve", "reason": "my own deploy"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert refused.status_code == 403
    assert "requested" in refused.json()["detail"]
