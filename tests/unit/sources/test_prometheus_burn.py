"""Error budgets burning too fast, through the Prometheus HTTP API (loopback stand-in)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from clearance.errors import SourceError
from clearance.model.assets import parse_asset
from clearance.model.signal import Severity, SignalKind, SignalStatus
from clearance.sources.interface import Batch
from clearance.sources.prometheus.burn import Slo, burn_signal
from clearance.sources.prometheus.source import PrometheusConfig, PrometheusSource
from closing import closed_after_test
from property.random_json import JSON
from standins import prometheus
from standins.prometheus import PrometheusState

QUERY = 'slo:sli_error:ratio_rate1h{sloth_id="checkout-availability"} / on() group_left() 0.001'
SLO = {
    "name": "checkout-availability",
    "query": QUERY,
    "assets": ["workload:prod-eu/shop/deployment/checkout"],
}


@pytest.fixture
def state() -> Iterator[tuple[PrometheusState, str]]:
    held = PrometheusState()
    with prometheus.serve(held) as url:
        yield held, url


def source(url: str, *slos: dict[str, Any], **config: Any) -> PrometheusSource:
    settings = PrometheusConfig.model_validate(
        {
            "base_url": url,
            "slos": list(slos or [SLO]),
            "username": prometheus.USERNAME,
            "password": prometheus.PASSWORD,
            **config,
        }
    )
    return closed_after_test(PrometheusSource("prometheus", settings))


def pull(src: PrometheusSource, watermark: str | None = None) -> list[Batch]:
    return list(src.fetch(watermark))


def signals(batches: list[Batch]) -> dict[str, Any]:
    return {str(s.uid): s for b in batches for s in b.signals}


def test_a_fast_burn_is_a_critical_health_signal_on_the_slos_workload(
    state: tuple[PrometheusState, str],
) -> None:
    st, url = state
    st.burn(QUERY, "16.2", sloth_window="1h")
    [signal] = signals(pull(source(url))).values()
    assert signal.uid == "prometheus:checkout-availability"
    assert signal.kind is SignalKind.HEALTH
    assert signal.rule == "error_budget_burn"
    assert signal.severity is Severity.CRITICAL
    assert signal.status is SignalStatus.OPEN
    assert signal.assets == (parse_asset("workload:prod-eu/shop/deployment/checkout"),)
    assert "burning 16.2x" in signal.title
    assert signal.url.startswith(f"{url}/graph?g0.expr=slo%3Asli_error")


def test_a_slow_burn_is_high_and_a_budget_on_track_is_no_finding(
    state: tuple[PrometheusState, str],
) -> None:
    st, url = state
    st.burn(QUERY, "7.1")
    [signal] = signals(pull(source(url))).values()
    assert signal.severity is Severity.HIGH
    st.burn(QUERY, "0.8")
    assert signals(pull(source(url))) == {}


def test_the_worst_series_decides_and_nan_burns_nothing(
    state: tuple[PrometheusState, str],
) -> None:
    st, url = state
    st.burn(QUERY, "NaN", "2.5", "+Inf")
    [signal] = signals(pull(source(url))).values()
    assert signal.severity is Severity.CRITICAL
    assert "burning ∞x" in signal.title
    st.burn(QUERY, "NaN")
    assert signals(pull(source(url))) == {}


def test_a_budget_that_stops_burning_is_resolved_once(state: tuple[PrometheusState, str]) -> None:
    st, url = state
    st.burn(QUERY, "16.2")
    src = source(url)
    first = pull(src)
    assert json.loads(first[-1].watermark or "") == ["prometheus:checkout-availability"]
    st.burn(QUERY, "0.4")
    second = pull(src, first[-1].watermark)
    [resolved] = signals(second).values()
    assert resolved.status is SignalStatus.RESOLVED
    assert second[-1].watermark == "[]"
    assert signals(pull(src, second[-1].watermark)) == {}


def test_no_series_is_quarantined_and_changes_nothing(state: tuple[PrometheusState, str]) -> None:
    st, url = state
    st.burn(QUERY, "16.2")
    src = source(url)
    first = pull(src)
    st.vectors.pop(QUERY)  # e.g. a metric renamed: an empty vector, not a healthy budget
    [batch] = pull(src, first[-1].watermark)
    assert batch.signals == ()
    [bad] = batch.quarantined
    assert bad.reason == "no_data"
    assert "or vector(0)" in bad.detail
    assert batch.watermark == first[-1].watermark  # still burning, as far as anyone knows


def test_a_query_prometheus_refuses_is_an_error_naming_it(
    state: tuple[PrometheusState, str],
) -> None:
    st, url = state
    st.vectors[QUERY] = prometheus.ERROR
    with pytest.raises(SourceError, match="HTTP 400"):
        pull(source(url, max_retries=0))


def test_unreachable_prometheus_is_an_error_never_a_healthy_budget() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError, match="cannot reach"):
        pull(source(f"http://127.0.0.1:{port}", max_retries=0))


def test_settings_are_checked_at_start_up() -> None:
    with pytest.raises(ValidationError, match="fast"):
        PrometheusConfig.model_validate(
            {"base_url": "http://p:9090", "slos": [{**SLO, "slow": 10, "fast": 2}]}
        )
    with pytest.raises(ValidationError, match="asset"):
        PrometheusConfig.model_validate(
            {"base_url": "http://p:9090", "slos": [{**SLO, "assets": ["workload:checkout"]}]}
        )
    with pytest.raises(ValidationError, match="duplicate SLO"):
        PrometheusConfig.model_validate({"base_url": "http://p:9090", "slos": [SLO, SLO]})


@settings(max_examples=200, deadline=None)
@given(result=st.lists(JSON | st.builds(lambda t, v: {"value": [t, v]}, JSON, JSON), max_size=4))
def test_any_answer_is_a_signal_or_quarantined_never_a_crash(result: list[Any]) -> None:
    slo = Slo.model_validate(SLO)
    signal, bad = burn_signal(slo, result, source="prometheus", graph_url="http://p/graph")
    assert (signal is None) != (bad is None)
    if bad is not None:
        assert bad.reason in ("no_data", "malformed_result")
        assert bad.digest.startswith("sha256:")
