"""Health sources through the prefetch loop into a real store (SQLite, and PostgreSQL when
configured): what stopped firing is stored resolved, so it stops counting; a source that cannot
be reached is recorded failed, never as an empty healthy answer."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from clearance.model.signal import SignalStatus
from clearance.sources.alertmanager.source import AlertmanagerConfig, AlertmanagerSource
from clearance.sources.prometheus.source import PrometheusConfig, PrometheusSource
from clearance.store.sql import SqlStore
from clearance.sync.poller import Poller, Schedule
from closing import closed_after_test
from standins import alertmanager, prometheus

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class _Lease:
    def acquire(self, name: str) -> bool:
        return True

    def release(self, name: str) -> None:
        pass

    def close(self) -> None:
        pass


def _poller(store: SqlStore, source: object) -> Poller:
    name = source.name  # type: ignore[attr-defined]
    return Poller(
        store=store,
        sources={name: source},  # type: ignore[dict-item]
        schedules={name: Schedule(retries=0)},
        lease=_Lease(),
        clock=lambda: NOW,
        sleep=lambda _: None,
        rng=random.Random(7),
    )


@pytest.fixture
def alerts() -> Iterator[tuple[alertmanager.AlertmanagerState, str]]:
    held = alertmanager.AlertmanagerState(password=None)
    with alertmanager.serve(held) as url:
        yield held, url


def test_an_alert_that_stops_firing_is_stored_resolved(
    store: SqlStore, alerts: tuple[alertmanager.AlertmanagerState, str]
) -> None:
    held, url = alerts
    held.add_alerts(2)
    config = AlertmanagerConfig(base_url=url, cluster="prod-eu")
    source = closed_after_test(AlertmanagerSource("alertmanager", config, clock=NOW.timestamp))
    poller = _poller(store, source)
    assert poller.pull("alertmanager").ok
    firing = store.signals_touching(["pod:shop/checkout-0", "pod:shop/checkout-1"])
    assert {s.status for s in firing} == {SignalStatus.OPEN}
    held.alerts.pop(0)
    assert poller.pull("alertmanager").ok
    gone = store.get_signal("alertmanager:5c0ffee000000000")
    assert gone.status is SignalStatus.RESOLVED
    assert store.get_signal("alertmanager:5c0ffee000000001").status is SignalStatus.OPEN


def test_an_unreachable_source_is_recorded_failed_not_healthy(store: SqlStore) -> None:
    config = PrometheusConfig.model_validate(
        {
            "base_url": "http://127.0.0.1:9",
            "max_retries": 0,
            "slos": [{"name": "a", "query": "up", "assets": ["namespace:prod-eu/shop"]}],
        }
    )
    poller = _poller(store, closed_after_test(PrometheusSource("prometheus", config)))
    result = poller.pull("prometheus")
    assert not result.ok
    [health] = [h for h in store.source_health() if h.name == "prometheus"]
    assert health.last_success is None
    assert health.last_error is not None
    assert "cannot reach" in health.last_error


def test_a_burning_budget_is_stored_and_resolved_when_it_stops(store: SqlStore) -> None:
    held = prometheus.PrometheusState(password=None, evaluated_at=NOW.timestamp() - 120)
    held.burn("burn", "20")
    with prometheus.serve(held) as url:
        config = PrometheusConfig.model_validate(
            {
                "base_url": url,
                "slos": [{"name": "a", "query": "burn", "assets": ["namespace:prod-eu/shop"]}],
            }
        )
        poller = _poller(store, closed_after_test(PrometheusSource("prometheus", config)))
        assert poller.pull("prometheus").ok
        assert store.get_signal("prometheus:a").status is SignalStatus.OPEN
        held.evaluated_at = NOW.timestamp() - 60
        held.burn("burn", "0.5")
        assert poller.pull("prometheus").ok
        assert store.get_signal("prometheus:a").status is SignalStatus.RESOLVED
