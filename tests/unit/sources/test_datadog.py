"""Datadog monitors through datadog-api-client, on the loopback stand-in: Alert and No Data on
the target count, the rest does not, and a monitor that recovers is resolved."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clearance.errors import SourceError
from clearance.model.assets import parse_asset
from clearance.model.signal import Severity, SignalKind, SignalStatus
from clearance.sources.datadog.source import DatadogConfig, DatadogSource
from clearance.sources.interface import Batch
from closing import closed_after_test
from standins import datadog
from standins.datadog import DatadogState, fixture_monitor, monitor

PULLED = 1796212800.0  # 2026-12-02T12:00:00Z
CHECKOUT = "workload:prod-eu/shop/deployment/checkout"
KUBE = ["kube_cluster_name:prod-eu", "kube_namespace:shop", "kube_deployment:checkout"]


@pytest.fixture
def served() -> Iterator[tuple[DatadogState, str]]:
    held = DatadogState()
    with datadog.serve(held) as url:
        yield held, url


def source(url: str, **config: Any) -> DatadogSource:
    settings = DatadogConfig.model_validate(
        {"base_url": url, "api_key": datadog.API_KEY, "app_key": datadog.APP_KEY, **config}
    )
    return closed_after_test(DatadogSource("datadog", settings, clock=lambda: PULLED))


def pull(src: DatadogSource, watermark: str | None = None) -> list[Batch]:
    return list(src.fetch(watermark))


def signals(batches: list[Batch]) -> dict[str, Any]:
    return {str(s.uid): s for b in batches for s in b.signals}


def test_a_monitor_in_alert_with_kubernetes_tags_is_a_health_signal_on_the_workload(
    served: tuple[DatadogState, str],
) -> None:
    held, url = served
    held.monitors.append(
        monitor(1001, "checkout p99 latency", "Alert", [*KUBE, "env:prod"], priority=1)
    )
    [signal] = signals(pull(source(url))).values()
    assert signal.uid == "datadog:1001"
    assert signal.kind is SignalKind.HEALTH
    assert signal.severity is Severity.CRITICAL  # P1
    assert signal.status is SignalStatus.OPEN
    assert signal.rule == "checkout p99 latency"
    assert signal.title == "checkout p99 latency (Alert)"
    assert set(signal.assets) == {parse_asset(CHECKOUT), parse_asset("namespace:prod-eu/shop")}
    assert signal.url == f"{url}/monitors/1001"


def test_a_target_maps_service_and_env_tags_to_the_workload(
    served: tuple[DatadogState, str],
) -> None:
    held, url = served
    # The recorded monitor: a log alert in No Data, priority 3, tagged env:ci.
    held.monitors.append({**fixture_monitor(), "tags": ["service:checkout", "env:ci"]})
    targets = [{"tags": ["service:checkout", "env:ci"], "assets": [CHECKOUT]}]
    [signal] = signals(pull(source(url, targets=targets))).values()
    assert signal.uid == "datadog:48053793"
    assert signal.severity is Severity.MEDIUM  # P3
    assert signal.title.endswith("(No Data)")
    assert signal.assets == (parse_asset(CHECKOUT),)


def test_ok_and_warn_monitors_are_no_finding_unless_warn_is_asked_for(
    served: tuple[DatadogState, str],
) -> None:
    held, url = served
    held.monitors.append(monitor(1, "fine", "OK", KUBE))
    held.monitors.append(monitor(2, "warming up", "Warn", KUBE))
    assert signals(pull(source(url))) == {}
    assert list(signals(pull(source(url, states=["Alert", "Warn"])))) == ["datadog:2"]


def test_a_monitor_that_recovers_or_is_deleted_is_resolved_once(
    served: tuple[DatadogState, str],
) -> None:
    held, url = served
    held.monitors.append(monitor(1, "latency", "Alert", KUBE, priority=2))
    held.monitors.append(monitor(2, "errors", "Alert", KUBE, priority=2))
    src = source(url)
    first = pull(src)
    held.monitors[0]["overall_state"] = "OK"
    held.monitors.pop(1)
    second = pull(src, first[-1].watermark)
    assert {uid: s.status for uid, s in signals(second).items()} == {
        "datadog:1": SignalStatus.RESOLVED,
        "datadog:2": SignalStatus.RESOLVED,
    }
    assert signals(pull(src, second[-1].watermark)) == {}


def test_monitor_tags_are_asked_of_the_api(served: tuple[DatadogState, str]) -> None:
    held, url = served
    held.monitors.append(monitor(1, "a", "Alert", [*KUBE, "service:checkout"]))
    held.monitors.append(monitor(2, "b", "Alert", [*KUBE, "service:cart"]))
    assert list(signals(pull(source(url, monitor_tags=["service:checkout"])))) == ["datadog:1"]
    assert any("monitor_tags=service%3Acheckout" in path for _, path in held.scripted.requests)


def test_an_alerting_monitor_nothing_places_is_counted(served: tuple[DatadogState, str]) -> None:
    held, url = served
    held.monitors.append(monitor(7, "billing", "Alert", ["team:billing"]))
    batches = pull(source(url))
    [bad] = [q for b in batches for q in b.quarantined]
    assert bad.reason == "no_target"
    assert "tip: add a target" in bad.detail


def test_a_refused_key_is_an_error_naming_the_status_never_the_key(
    served: tuple[DatadogState, str],
) -> None:
    held, url = served
    held.api_key = "rotated"
    with pytest.raises(SourceError, match="HTTP 403") as caught:
        pull(source(url))
    assert datadog.API_KEY not in str(caught.value)
    assert "monitors_read" in str(caught.value)


def test_unreachable_datadog_is_an_error_never_all_clear() -> None:
    with pytest.raises(SourceError, match="cannot reach the Datadog API"):
        pull(source("http://127.0.0.1:9", max_retries=0))


def test_an_unplaced_monitor_listed_again_is_kept_under_one_digest(
    served: tuple[DatadogState, str],
) -> None:
    held, url = served
    held.monitors.append(monitor(7, "billing", "Alert", ["team:billing"]))
    [first] = [q for b in pull(source(url)) for q in b.quarantined]
    held.monitors[0]["overall_state_modified"] = "2026-12-02T12:01:00+00:00"
    [again] = [q for b in pull(source(url)) for q in b.quarantined]
    assert first.digest == again.digest
