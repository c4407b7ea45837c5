"""Exceptions and break-glass through the service; the break-glass webhook on loopback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from server_harness import Live, Receiver


def _iso(server: Live, **delta: float) -> str:
    return (server.clock.now + timedelta(**delta)).isoformat().replace("+00:00", "Z")


def _exception(server: Live, **extra: object) -> dict[str, object]:
    return {
        "signal": "edr:2",
        "environment": "production",
        "cluster": "prod-eu",
        "namespace": "shop",
        "workload": "deployment/hot",
        "expires": _iso(server, hours=2),
        "reason": "known test host",
        "ticket": "SEC-42",
        **extra,
    }


def test_an_exception_waives_its_finding_until_it_expires(live: Callable[..., Live]) -> None:
    server = live()
    server.push(server.signal("2", 5, "hot"))
    assert server.ask("hot")["decision"]["verdict"] == "block"
    with server.client("root") as c:
        created = c.post("/v1/exceptions", json=_exception(server))
    assert created.status_code == 201, created.text
    assert created.json()["exception"]["approver"] == "user:root"
    waived = server.ask("hot")
    assert waived["decision"]["verdict"] == "proceed"
    assert waived["decision"]["exceptions"] == [
        {"signal": "edr:2", "exception": created.json()["exception"]["id"]}
    ]
    server.clock.advance(hours=3)
    server.ctx.store.record_source_success("edr", server.clock.now)  # keep the data fresh
    assert server.ask("hot")["decision"]["verdict"] == "block"  # expired: it counts again


def test_exceptions_need_admin_and_can_be_revoked(live: Callable[..., Live]) -> None:
    server = live()
    server.push(server.signal("2", 5, "hot"))
    with server.client("alice") as c:
        assert c.post("/v1/exceptions", json=_exception(server)).status_code == 403
    with server.client("root") as c:
        made = c.post("/v1/exceptions", json=_exception(server)).json()["exception"]
        revoked = c.delete(f"/v1/exceptions/{made['id']}")
        listed = c.get("/v1/exceptions", params={"include_inactive": True}).json()
    assert revoked.status_code == 200
    assert revoked.json()["exception"]["revoked_by"] == "user:root"
    assert [e["active"] for e in listed["exceptions"]] == [False]
    assert server.ask("hot")["decision"]["verdict"] == "block"


def test_exception_bodies_are_checked(live: Callable[..., Live]) -> None:
    server = live()
    with server.client("root") as c:
        both = c.post("/v1/exceptions", json=_exception(server, rule="x"))
        past = c.post("/v1/exceptions", json=_exception(server, expires=_iso(server, hours=-1)))
        naive = c.post("/v1/exceptions", json=_exception(server, expires="2030-01-01T00:00:00"))
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "body.signal"
    assert past.status_code == 422
    assert past.json()["errors"][0]["field"] == "body.expires"
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "body.expires"


def test_break_glass_proceeds_is_audited_and_notifies(
    live: Callable[..., Live], receiver: Receiver
) -> None:
    server = live(notify={"webhook_url": receiver.url + "/hook?key=s3cret", "backoff": 0})
    receiver.fail_next = [503]  # the first delivery fails: it is retried
    server.push(server.signal("2", 5, "hot"))
    blocked = server.ask("hot")
    with server.client("alice") as c:
        made = c.post(
            f"/v1/decisions/{blocked['id']}/break-glass",
            json={"reason": "outage fix", "ticket": "INC-7"},
        )
    assert made.status_code == 201, made.text
    assert receiver.arrived.wait(5)
    sent = receiver.received[0]
    assert sent["event"] == "break_glass.requested"
    assert sent["break_glass"]["ticket"] == "INC-7"
    assert sent["decision"]["id"] == blocked["id"]
    server.ctx.webhook.join()
    grant = server.ctx.store.list_break_glass(server.clock.now)[0]
    assert grant.notified_at is not None

    after = server.ask("hot")
    assert after["decision"]["verdict"] == "block"  # the record still says block …
    assert (after["status"], after["exit_code"]) == ("break_glass", 0)  # … the override clears it
    assert after["approval"]["break_glass"]["requested_by"] == "user:alice"
    server.clock.advance(hours=2)  # default expiry: 1h
    server.ctx.store.record_source_success("edr", server.clock.now)
    assert server.ask("hot")["status"] == "block"


def test_break_glass_with_a_second_person(live: Callable[..., Live]) -> None:
    server = live(break_glass={"second_person": True})
    server.push(server.signal("2", 5, "hot"))
    blocked = server.ask("hot")
    with server.client("alice") as c:
        grant = c.post(
            f"/v1/decisions/{blocked['id']}/break-glass", json={"reason": "fix", "ticket": "INC-8"}
        ).json()["break_glass"]
        assert server.ask("hot")["status"] == "block"  # not yet confirmed
        assert c.post(f"/v1/break-glass/{grant['id']}/confirm").status_code == 403
    with server.client("bob") as c:
        confirmed = c.post(f"/v1/break-glass/{grant['id']}/confirm")
    assert confirmed.json()["break_glass"]["confirmed_by"] == "user:bob"
    assert server.ask("hot")["status"] == "break_glass"


def test_a_dead_webhook_never_blocks_the_break_glass(
    live: Callable[..., Live], receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    hook = receiver.url + "/hook?token=hunter2"
    server = live(notify={"webhook_url": hook, "retries": 1, "backoff": 0})
    receiver.fail_next = [500, 500]
    server.push(server.signal("2", 5, "hot"))
    blocked = server.ask("hot")
    with server.client("alice") as c:
        made = c.post(
            f"/v1/decisions/{blocked['id']}/break-glass", json={"reason": "x", "ticket": "INC-9"}
        )
    assert made.status_code == 201
    server.ctx.webhook.join()
    assert server.ctx.store.list_break_glass(server.clock.now)[0].notified_at is None
    assert "notification to" in caplog.text  # each failure is logged …
    assert "hunter2" not in caplog.text  # … without the URL's secret
    with server.client() as c:
        metrics = c.get("/metrics").text
    assert 'clearance_notifications_total{outcome="failed"} 1.0' in metrics
