"""Approval events reach Slack and Teams (stand-ins speaking their wire formats), and a signed
Slack click approves through the same rules as the API; unsigned, badly signed, replayed,
unmapped or self-approving clicks change nothing. Deliveries are retried, recorded with the
decision, and never hold a decision up."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from clearance.errors import ConfigError
from clearance.model.signal import signal_from_dict
from clearance.server.app import build_context, create_app
from clearance.server.settings import ServerSettings
from clearance.store.interface import Scope
from clearance.store.sql import SqlStore
from integration.integrations.integrations_harness import NOW, serve, write_scenario
from server_harness import Receiver, start_receiver
from standins._server import Loopback
from standins.slack import SlackHandler, SlackState
from standins.teams import TeamsHandler, TeamsState

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the shape of Slack's docs' example
CONSOLE = "https://clearance.example.com"


@dataclass
class Service:
    url: str
    slack: SlackState
    slack_url: str
    teams: TeamsState
    hook: Receiver
    tokens: dict[str, str]

    def decide(self) -> dict[str, Any]:
        body = {"environment": "staging", "cluster": "prod-eu", "namespace": "stage",
                "workload": "deployment/web"}  # fmt: skip
        answer = httpx.post(
            f"{self.url}/v1/decisions", json=body, headers=self.auth("ci"), timeout=30
        )
        assert answer.status_code == 200, answer.text
        decided: dict[str, Any] = answer.json()
        return decided

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def read(self, decision_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/v1/decisions/{decision_id}", headers=self.auth("ci"))
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def click(
        self,
        decision_id: str,
        user: str,
        action: str = "clearance_approve",
        *,
        at: float | None = None,
        secret: str | None = SIGNING_SECRET,
    ) -> httpx.Response:
        """A block_actions interaction as Slack posts it, signed with ``secret`` at ``at``."""
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0CAG"},
            "api_app_id": "A0CA6",
            "team": {"id": "T0CAG", "domain": "acme"},
            "container": {"type": "message", "message_ts": "1548261231.000200"},
            "trigger_id": "1234567890.1234567890.abcdef",
            "response_url": f"{self.slack_url}/actions/T0CAG/1/secret",
            "actions": [
                {"action_id": action, "block_id": f"clearance:{decision_id}",
                 "value": decision_id, "type": "button", "action_ts": "1548426417.840180"}
            ],
        }  # fmt: skip
        body = urlencode({"payload": json.dumps(payload)}).encode()
        stamp = str(int(at if at is not None else NOW.timestamp()))
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Slack-Request-Timestamp": stamp}  # fmt: skip
        if secret is not None:
            mac = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
            headers["X-Slack-Signature"] = "v0=" + mac.hexdigest()
        return httpx.post(
            f"{self.url}/v1/integrations/slack/interactions", content=body, headers=headers
        )


def _wait(check: Any, what: str) -> None:
    for _ in range(500):
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    scenario = tmp_path / "scenario"
    scenario.mkdir()
    write_scenario(scenario)
    store = SqlStore.open(f"sqlite:///{tmp_path / 'clearance.db'}")
    lines = (scenario / "signals.jsonl").read_text().splitlines()
    store.upsert_signals([signal_from_dict(json.loads(line)) for line in lines], NOW)
    store.record_source_success("edr", NOW - timedelta(minutes=1))
    tokens = {
        "ci": store.create_token("ci", (Scope.DECIDE,), NOW)[1],
    }
    slack, teams = SlackState(), TeamsState()
    hook, stop_hook = start_receiver()
    with Loopback(SlackHandler, slack) as slack_url, Loopback(TeamsHandler, teams) as teams_url:
        settings = ServerSettings.model_validate(
            {
                "notify": {
                    "retries": 2,
                    "backoff": 0.01,
                    "console_url": CONSOLE,
                    "environments": {
                        "staging": {
                            "slack_webhook_url": f"{slack_url}/services/T0CAG/B0CAG/secret",
                            "teams_webhook_url": f"{teams_url}/workflows/abc/triggers/manual/"
                            "paths/invoke?sig=secret",
                            "webhook_url": hook.url,
                        }
                    },
                    "slack": {
                        "signing_secret": SIGNING_SECRET,
                        "response_url_prefix": slack_url,
                        "users": {
                            "U0ALICE": {"principal": "alice", "groups": ["engineering"]},
                            "U0CI": {"principal": "ci", "groups": ["engineering"]},
                            "U0BOB": {"principal": "bob", "groups": ["marketing"]},
                        },
                    },
                }
            }
        )
        ctx = build_context(scenario / "clearance.yaml", store, settings, clock=lambda: NOW)
        with serve(create_app(ctx)) as url:
            yield Service(url, slack, slack_url, teams, hook, tokens)
        ctx.close()
    stop_hook()


def test_slack_and_teams_receive_the_approval_needed_message(service: Service) -> None:
    decided = service.decide()
    assert decided["status"] == "pending_approval"
    decision_id = decided["id"]
    link = f"{CONSOLE}/decisions/{decision_id}"
    _wait(lambda: service.slack.messages and service.teams.cards, "both channels")
    [message] = service.slack.messages
    assert "Approval needed" in message["text"]
    assert "prod-eu/stage/deployment/web" in message["text"]
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    buttons = {e["action_id"]: e for e in actions["elements"]}
    assert buttons["clearance_approve"]["value"] == decision_id
    assert buttons["clearance_reject"]["value"] == decision_id
    assert buttons["clearance_open"]["url"] == link
    [card] = service.teams.cards
    assert card["type"] == "AdaptiveCard"
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Review and approve", "url": link}
    ]
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Requested by"] == "user:ci"
    assert facts["Approvals"] == "needs 1 from engineering"
    _wait(lambda: service.hook.received, "the generic webhook")
    [event] = service.hook.received
    assert event["event"] == "approval.approval_needed"
    assert event["decision"]["id"] == decision_id
    assert event["decision"]["url"] == link
    assert event["decision"]["approvals"] == {"required": 1, "group": "engineering",
                                              "approvers": []}  # fmt: skip


def test_a_signed_click_approves_and_is_announced(service: Service) -> None:
    decision_id = service.decide()["id"]
    answer = service.click(decision_id, "U0ALICE")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "approved"
    assert service.read(decision_id)["status"] == "approved"
    approvals = service.read(decision_id)["approval"]["approvers"]
    assert approvals == ["user:alice"]
    _wait(lambda: len(service.slack.messages) >= 2 and service.slack.replies, "the follow-ups")
    assert service.slack.messages[1]["text"].startswith("Approved: staging")
    assert "clearance_approve" not in json.dumps(service.slack.messages[1])  # no buttons now
    assert "approved" in service.slack.replies[0]["text"]


@pytest.mark.parametrize(
    ("how", "kwargs"),
    [
        ("unsigned", {"secret": None}),
        ("signed with another secret", {"secret": "not-the-signing-secret-at-all-000"}),
        ("replayed 10 minutes later", {"at": NOW.timestamp() - 600}),
    ],
)
def test_unsigned_or_replayed_clicks_are_refused(
    service: Service, how: str, kwargs: dict[str, Any]
) -> None:
    decision_id = service.decide()["id"]
    answer = service.click(decision_id, "U0ALICE", **kwargs)
    assert answer.status_code == 401, how
    assert service.read(decision_id)["status"] == "pending_approval"


def test_unmapped_self_approving_or_out_of_group_clickers_are_refused(service: Service) -> None:
    decision_id = service.decide()["id"]
    unmapped = service.click(decision_id, "U0STRANGER")
    assert unmapped.status_code == 403
    assert "not mapped" in unmapped.json()["detail"]
    requester = service.click(decision_id, "U0CI")  # ci asked for it
    assert requester.status_code == 403
    assert "ci" in requester.json()["detail"]
    outsider = service.click(decision_id, "U0BOB")  # not in engineering
    assert outsider.status_code == 403
    assert service.read(decision_id)["status"] == "pending_approval"
    _wait(lambda: len(service.slack.replies) >= 3, "the refusals told to the clickers")
    assert all(r["text"].startswith(("Refused", "Slack user")) for r in service.slack.replies)


def test_a_failed_delivery_is_retried_and_shown_with_the_decision(service: Service) -> None:
    service.slack.scripted.queue(500, b"rollup_error", {"Content-Type": "text/plain"})
    decision_id = service.decide()["id"]
    _wait(lambda: service.slack.messages, "the retried message")

    def slack_record() -> dict[str, Any] | None:
        found = [c for c in service.read(decision_id).get("callbacks", [])
                 if c.get("integration") == "slack"]  # fmt: skip
        return found[0] if found and found[0]["outcome"] == "delivered" else None

    _wait(slack_record, "the delivery's record")
    record = slack_record()
    assert record is not None
    assert [a["status"] for a in record["attempts"]] == [500, 200]
    assert record["url"].endswith("/services/T0CAG/B0CAG/secret")  # path kept; no query

    def teams() -> list[dict[str, Any]]:
        return [c for c in service.read(decision_id)["callbacks"] if c["integration"] == "teams"]

    _wait(teams, "the Teams delivery's record")
    assert "sig=" not in teams()[0]["url"]  # the Workflows signature is a secret


def test_a_dead_receiver_never_holds_a_decision_up(service: Service) -> None:
    for _ in range(3):
        service.slack.scripted.queue(503, b"", {})
    decided = service.decide()  # answered at once, whatever Slack does
    assert decided["status"] == "pending_approval"

    def failed() -> bool:
        calls = service.read(decided["id"]).get("callbacks", [])
        return any(c["integration"] == "slack" and c["outcome"] == "failed" for c in calls)

    _wait(failed, "the delivery to give up")


def test_a_misspelt_environment_stops_the_service_from_starting(tmp_path: Path) -> None:
    write_scenario(tmp_path)
    store = SqlStore.open(f"sqlite:///{tmp_path / 'clearance.db'}")
    settings = ServerSettings.model_validate(
        {"notify": {"environments": {"prodution": {"webhook_url": "https://hooks.example/x"}}}}
    )
    with pytest.raises(ConfigError, match=r"notify.environments.prodution: no such environment"):
        build_context(tmp_path / "clearance.yaml", store, settings, clock=lambda: NOW)
    store.close()
