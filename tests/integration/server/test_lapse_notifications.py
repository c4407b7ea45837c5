"""The notifications that time brings, and watch alerts, reach Slack and Teams (stand-ins
speaking their wire formats) and the environment's webhook: an approval request that expired
unanswered, an exception about to expire, and a deployed target the watcher would now block.
Each is told once; what is not due is not told."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from clearance.model.exemptions import Exemption
from clearance.model.signal import signal_from_dict
from clearance.server.app import ServerContext, build_context, create_app
from clearance.server.settings import ServerSettings
from clearance.store.interface import Scope
from clearance.store.sql import SqlStore
from integration.integrations.integrations_harness import NOW, serve, write_scenario
from server_harness import Receiver, start_receiver
from standins._server import Loopback
from standins.slack import SlackHandler, SlackState
from standins.teams import TeamsHandler, TeamsState

CONSOLE = "https://clearance.example.com"


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Service:
    url: str
    ctx: ServerContext
    store: SqlStore
    clock: Clock
    slack: SlackState
    teams: TeamsState
    hook: Receiver
    token: str

    def decide(self, workload: tuple[str, str]) -> dict[str, Any]:
        body = {"environment": "staging", "cluster": "prod-eu", "namespace": workload[0],
                "workload": workload[1]}  # fmt: skip
        answer = httpx.post(
            f"{self.url}/v1/decisions",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        decided: dict[str, Any] = answer.json()
        return decided

    def settle(self) -> None:
        assert self.ctx.notifier is not None
        self.ctx.notifier.join()


WEB = ("stage", "deployment/web")  # a KEV in its image: staging asks for approval
LEDGER = ("shop", "deployment/ledger")  # nothing on it: proceeds


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    scenario = tmp_path / "scenario"
    scenario.mkdir()
    write_scenario(scenario)
    store = SqlStore.open(f"sqlite:///{tmp_path / 'clearance.db'}")
    lines = (scenario / "signals.jsonl").read_text().splitlines()
    store.upsert_signals([signal_from_dict(json.loads(line)) for line in lines], NOW)
    store.record_source_success("edr", NOW - timedelta(minutes=1))
    token = store.create_token("ci", (Scope.DECIDE,), NOW)[1]
    slack, teams = SlackState(), TeamsState()
    hook, stop_hook = start_receiver()
    clock = Clock()
    with Loopback(SlackHandler, slack) as slack_url, Loopback(TeamsHandler, teams) as teams_url:
        settings = ServerSettings.model_validate(
            {
                "notify": {
                    "retries": 0,
                    "console_url": CONSOLE,
                    "exception_warning": "1d",
                    "environments": {
                        "staging": {
                            "slack_webhook_url": f"{slack_url}/services/T0CAG/B0CAG/secret",
                            "teams_webhook_url": f"{teams_url}/workflows/abc/triggers/manual/"
                            "paths/invoke?sig=secret",
                            "webhook_url": hook.url,
                            "events": ["expired", "exception_expiring", "watch_alert"],
                        }
                    },
                },
                "watch": {"interval": None},
            }
        )
        ctx = build_context(scenario / "clearance.yaml", store, settings, clock=clock)
        with serve(create_app(ctx)) as url:
            yield Service(url, ctx, store, clock, slack, teams, hook, token)
        ctx.close()
    stop_hook()


def _tick(service: Service) -> tuple[list[str], list[str]]:
    assert service.ctx.lapses is not None
    told = service.ctx.lapses.tick()
    service.settle()
    return told


def test_an_unanswered_request_is_told_expired_once(service: Service) -> None:
    pending = service.decide(WEB)
    assert pending["status"] == "pending_approval"
    assert _tick(service) == ([], [])  # not yet: staging's requests last 24h
    service.clock.now = NOW + timedelta(hours=24, minutes=1)
    assert _tick(service) == ([pending["id"]], [])
    (message,) = service.slack.messages
    assert message["text"].startswith("Approval expired: staging prod-eu/stage/deployment/web")
    assert "clearance_approve" not in json.dumps(message)  # nothing left to click
    (card,) = service.teams.cards
    assert card["actions"][0]["url"] == f"{CONSOLE}/decisions/{pending['id']}"
    (event,) = service.hook.received
    assert event["event"] == "approval.expired"
    assert event["decision"]["id"] == pending["id"]
    assert _tick(service) == ([], [])  # told once
    assert len(service.slack.messages) == 1
    # The attempt is kept with the decision, as every delivery is, without its body.
    shown = httpx.get(
        f"{service.url}/v1/decisions/{pending['id']}",
        headers={"Authorization": f"Bearer {service.token}"},
    ).json()["callbacks"]
    assert {(c["integration"], c["event"], c["outcome"]) for c in shown} == {
        ("slack", "expired", "delivered"), ("teams", "expired", "delivered"),
        ("webhook", "expired", "delivered"),
    }  # fmt: skip
    assert all("body" not in c for c in shown)


def test_a_decision_that_needed_no_approval_does_not_expire(service: Service) -> None:
    proceeding = service.decide(LEDGER)
    assert proceeding["status"] == "proceed"
    service.clock.now = NOW + timedelta(hours=25)
    assert _tick(service) == ([], [])
    assert service.slack.messages == []


def _exception(exception_id: str, expires: datetime) -> Exemption:
    return Exemption(
        id=exception_id, signal="edr:v1", rule=None, environment="staging", cluster="prod-eu",
        namespace="stage", workload="deployment/web", expires=expires,
        reason="fix ships Friday", ticket="SEC-9", approver="alice", created_by="alice",
    )  # fmt: skip


def test_an_exception_about_to_expire_is_told_once(service: Service) -> None:
    service.store.add_exemption(_exception("exc_soon", NOW + timedelta(hours=3)), NOW)
    service.store.add_exemption(_exception("exc_later", NOW + timedelta(days=5)), NOW)
    assert _tick(service) == ([], ["exc_soon"])
    (message,) = service.slack.messages
    assert message["text"].startswith("Exception expiring: staging prod-eu/stage/deployment/web")
    assert "SEC-9" in json.dumps(message["blocks"])
    (card,) = service.teams.cards
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open", "url": f"{CONSOLE}/console/exceptions"}
    ]
    (event,) = service.hook.received
    assert event["event"] == "exception.expiring"
    assert event["exception"]["id"] == "exc_soon"
    assert _tick(service) == ([], [])
    service.clock.now = NOW + timedelta(days=4, hours=1)  # now the later one is due
    assert _tick(service) == ([], ["exc_later"])


def test_a_watch_alert_reaches_slack_and_teams(service: Service) -> None:
    deployed = service.decide(LEDGER)
    assert deployed["status"] == "proceed"
    service.store.note_deployed(deployed["id"], "api", "ci", NOW)
    assert service.ctx.watcher is not None
    assert service.ctx.watcher.tick() == []
    detection = {
        "uid": "edr:d9", "source": "edr", "kind": "detection", "severity": 5,
        "title": "Credential dumping on node-c", "confidence": 1.0, "status": "open",
        "first_seen": "2026-11-28T11:59:00Z", "last_seen": "2026-11-28T11:59:00Z",
        "assets": ["host:node-c"],
    }  # fmt: skip
    service.store.upsert_signals([signal_from_dict(detection)], NOW)
    (alert,) = service.ctx.watcher.tick()
    service.settle()
    (message,) = service.slack.messages
    assert message["text"] == "Would now be blocked: staging prod-eu/shop/deployment/ledger"
    assert "edr:d9" in json.dumps(message["blocks"])
    (card,) = service.teams.cards
    assert card["actions"][0]["url"] == f"{CONSOLE}/decisions/{alert.decision.id}"
    (event,) = [e for e in service.hook.received if e.get("event") == "clearance.watch.block"]
    assert event["decision"]["id"] == alert.decision.id


def test_events_an_environment_does_not_take_are_not_sent(service: Service) -> None:
    service.decide(WEB)  # approval_needed: not among staging's events here
    service.settle()  # every delivery started has ended
    assert service.slack.messages == []
    assert service.teams.cards == []
