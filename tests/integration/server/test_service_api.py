"""Signals in, sources and health out, metrics, overload, and no secret anywhere."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from sqlalchemy import select

from clearance.model.target import Target
from clearance.service.decisions import Outcome
from clearance.store import tables
from clearance.store.interface import Caller, StoreUnavailableError
from server_harness import Live


def test_bad_signals_are_named_and_good_ones_stored(live: Callable[..., Live]) -> None:
    server = live()
    bad = server.signal("2", 5, "hot")
    del bad["kind"]
    response = server.push(server.signal("1", 3, "medium"), bad, {"uid": 3})
    assert response.status_code == 422
    body = response.json()
    assert [e["field"] for e in body["errors"]] == ["body.signals.1", "body.signals.2"]
    assert "kind" in body["errors"][0]["problem"]
    assert body["result"]["stored"] == 1
    assert server.ctx.store.get_signal("edr:1").severity == 3


def test_sources_report_freshness_and_quarantine(live: Callable[..., Live]) -> None:
    server = live()
    server.clock.advance(minutes=20)
    with server.client("ci") as c:
        sources = c.get("/v1/sources", params={"environment": "production"}).json()["sources"]
    assert [(s["name"], s["age_seconds"], s["freshness"]) for s in sources] == [
        ("edr", 1200, "stale")
    ]


def test_health_readiness_and_metrics(live: Callable[..., Live]) -> None:
    server = live()
    server.push(server.signal("2", 5, "hot"))
    server.ask("hot")
    server.ask("clean", env="development")
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json()["status"] == "ready"
        metrics = c.get("/metrics").text
    assert 'clearance_decisions_total{environment="production",verdict="block"} 1.0' in metrics
    assert 'clearance_decisions_total{environment="development",verdict="proceed"} 1.0' in metrics
    assert 'clearance_source_age_seconds{source="edr"}' in metrics
    assert 'route="/v1/decisions"' in metrics


def test_degraded_verdicts_are_counted_by_failure_class(live: Callable[..., Live]) -> None:
    server = live()
    server.clock.advance(hours=1)  # edr data is now older than production's 15m
    assert "stale" in server.ask("clean")["decision"]["degraded"]
    with server.client() as c:
        metrics = c.get("/metrics").text
    assert (
        'clearance_degraded_decisions_total{environment="production",failure_class="stale"} 1.0'
        in metrics
    )


def test_a_busy_store_is_503_with_retry_after(
    live: Callable[..., Live], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = live()

    def busy(*args: object, **kwargs: object) -> object:
        raise StoreUnavailableError("store: the decision log is busy; retry shortly")

    monkeypatch.setattr(server.ctx.store, "append_decision", busy)
    with server.client("ci") as c:
        response = c.post(
            "/v1/decisions",
            json={
                "environment": "production",
                "cluster": "prod-eu",
                "namespace": "shop",
                "workload": "deployment/clean",
            },
        )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"


def test_too_many_in_flight_is_429_with_retry_after(live: Callable[..., Live]) -> None:
    server = live(max_in_flight=1, queue_wait=0)
    release = threading.Event()
    entered = threading.Event()
    real = server.ctx.decisions.decide

    def slow(
        target: Target, caller: Caller, manifest: Mapping[str, Any] | None = None, **kw: Any
    ) -> Outcome:
        entered.set()
        release.wait(5)
        return real(target, caller, manifest, **kw)

    server.ctx.decisions.decide = slow  # type: ignore[method-assign]
    worker = threading.Thread(target=server.ask, args=("clean",))
    worker.start()
    assert entered.wait(5)
    with server.client("ci") as c:
        response = c.post(
            "/v1/decisions",
            json={
                "environment": "production",
                "cluster": "prod-eu",
                "namespace": "shop",
                "workload": "deployment/clean",
            },
        )
    release.set()
    worker.join(5)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert server.ctx.store.list_decisions().records  # the first one was recorded


def test_no_token_secret_in_logs_responses_or_the_database(
    live: Callable[..., Live], caplog: pytest.LogCaptureFixture
) -> None:
    server = live()
    secret = server.secrets["ci"]
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        server.push(server.signal("1", 3, "medium"))
        answer = server.ask("medium")
        with server.client("ci") as c:
            seen += [c.get(f"/v1/decisions/{answer['id']}").text, c.get("/v1/decisions").text]
        with server.client(token=secret + "x") as c:
            seen.append(c.get("/v1/decisions").text)  # a near miss is refused without echo
    assert secret not in caplog.text
    assert all(secret not in text_ for text_ in seen)
    with server.ctx.store.db.engine.connect() as conn:
        for table in tables.metadata.sorted_tables:
            rows = conn.execute(select(table)).fetchall()
            assert secret not in repr(rows), table.name
