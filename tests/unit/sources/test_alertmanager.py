"""Alertmanager: firing alerts on the target become health signals; silence is never health.

Against the loopback stand-in (tests/standins/alertmanager.py) serving the real recorded
Alertmanager 0.27.0 alerts (tests/fixtures/alertmanager/) and kube-prometheus-labelled ones.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr, ValidationError

from clearance.errors import SourceError
from clearance.model.assets import parse_asset
from clearance.model.signal import Severity, SignalKind, SignalStatus
from clearance.sources._labels import LabelMapping
from clearance.sources.alertmanager.mapping import AlertmanagerNormalizer
from clearance.sources.alertmanager.source import AlertmanagerConfig, AlertmanagerSource
from clearance.sources.interface import Batch
from closing import closed_after_test
from standins import alertmanager
from standins.alertmanager import AlertmanagerState, fixture_alerts, kube_alert

MOMENT = datetime(2026, 11, 28, 11, 50, tzinfo=UTC)
PULLED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def state() -> Iterator[tuple[AlertmanagerState, str]]:
    st = AlertmanagerState()
    with alertmanager.serve(st) as url:
        yield st, url


def source(url: str, **config: object) -> AlertmanagerSource:
    settings = AlertmanagerConfig.model_validate(
        {
            "base_url": url,
            "cluster": "prod-eu",
            "username": alertmanager.USERNAME,
            "password": alertmanager.PASSWORD,
            **config,
        }
    )
    return closed_after_test(AlertmanagerSource("alertmanager", settings, clock=PULLED.timestamp))


def pull(src: AlertmanagerSource, watermark: str | None = None) -> list[Batch]:
    return list(src.fetch(watermark))


def crash_looping(pod: str, fingerprint: str, **labels: str) -> dict[str, object]:
    return kube_alert(
        {
            "alertname": "KubePodCrashLooping",
            "namespace": "shop",
            "pod": pod,
            "severity": "warning",
            **labels,
        },
        fingerprint=fingerprint,
        moment=MOMENT,
        summary="Pod is crash looping.",
    )


def test_a_firing_alert_names_its_pod_workload_and_namespace_with_a_link(
    state: tuple[AlertmanagerState, str],
) -> None:
    st, url = state
    st.alerts.append(
        kube_alert(
            {
                "alertname": "KubeDeploymentReplicasMismatch",
                "namespace": "shop",
                "deployment": "checkout",
                "severity": "critical",
            },
            fingerprint="3b7a1c0f9d2e4a51",
            moment=MOMENT,
            summary="Deployment has not matched the expected number of replicas.",
        )
    )
    [batch] = pull(source(url))
    [signal] = batch.signals
    assert signal.uid == "alertmanager:3b7a1c0f9d2e4a51"
    assert signal.kind is SignalKind.HEALTH
    assert signal.rule == "KubeDeploymentReplicasMismatch"
    assert signal.severity is Severity.CRITICAL
    assert signal.status is SignalStatus.OPEN
    assert set(signal.assets) == {
        parse_asset("workload:prod-eu/shop/deployment/checkout"),
        parse_asset("namespace:prod-eu/shop"),
    }
    assert signal.url is not None
    assert signal.url.startswith("http://prometheus.monitoring:9090/graph?g0.expr=")
    assert signal.first_seen == MOMENT


def test_the_recorded_alerts_map_through_a_label_mapping_and_silenced_ones_are_not_read(
    state: tuple[AlertmanagerState, str],
) -> None:
    st, url = state
    st.alerts.extend(fixture_alerts())
    # These alerts name their machine in `instance`: map it as the node.
    [batch] = pull(source(url, labels={"node": "instance"}))
    hosts = sorted(str(a) for s in batch.signals for a in s.assets)
    assert hosts == [
        "host:server1",
        "host:server2",
        "host:server2",
        "host:server3",
        "host:server4",
        "host:server5",
        "host:server5",
        "host:web2",
    ]
    assert not batch.quarantined
    # The silenced ones (web1, server6..8) were not asked for.
    assert ("GET", "/api/v2/alerts?active=true&silenced=false&inhibited=false") in (
        st.scripted.requests
    )


def test_an_alert_the_mapping_cannot_place_is_counted_not_dropped(
    state: tuple[AlertmanagerState, str],
) -> None:
    st, url = state
    st.alerts.extend(fixture_alerts())
    [batch] = pull(source(url))  # default mapping: no namespace/pod/node labels here
    assert batch.signals == ()
    assert {q.reason for q in batch.quarantined} == {"no_target"}
    assert len(batch.quarantined) == 8


def test_an_alert_that_stops_firing_is_stored_resolved_and_firing_again_reopens(
    state: tuple[AlertmanagerState, str],
) -> None:
    st, url = state
    st.alerts.append(crash_looping("checkout-1", "00000000000000a1"))
    st.alerts.append(crash_looping("checkout-2", "00000000000000a2"))
    src = source(url)
    first = pull(src)
    watermark = first[-1].watermark
    assert watermark is not None
    st.alerts.pop(0)  # Alertmanager drops a resolved alert from its answer
    second = pull(src, watermark)
    by_uid = {str(s.uid): s for b in second for s in b.signals}
    assert by_uid["alertmanager:00000000000000a1"].status is SignalStatus.RESOLVED
    assert by_uid["alertmanager:00000000000000a1"].last_seen == PULLED
    assert by_uid["alertmanager:00000000000000a2"].status is SignalStatus.OPEN
    # Once said, the resolution is not repeated; a new firing is open again.
    third = pull(src, second[-1].watermark)
    assert [s.uid for b in third for s in b.signals] == ["alertmanager:00000000000000a2"]
    st.alerts.append(crash_looping("checkout-1", "00000000000000a1"))
    fourth = pull(src, third[-1].watermark)
    assert {s.status for b in fourth for s in b.signals} == {SignalStatus.OPEN}


def test_matchers_are_sent_as_filters(state: tuple[AlertmanagerState, str]) -> None:
    st, url = state
    st.alerts.append(crash_looping("checkout-1", "00000000000000b1", cluster="prod-eu"))
    st.alerts.append(crash_looping("checkout-2", "00000000000000b2", cluster="prod-us"))
    [batch] = pull(source(url, filter=['cluster="prod-eu"']))
    assert [s.uid for s in batch.signals] == ["alertmanager:00000000000000b1"]


def test_severity_labels_map_and_the_default_applies_to_the_rest(
    state: tuple[AlertmanagerState, str],
) -> None:
    st, url = state
    st.alerts.append(crash_looping("a", "00000000000000c1", severity="page"))
    st.alerts.append(crash_looping("b", "00000000000000c2", severity="P3"))
    severities = {"page": "critical", "P3": "low"}
    [batch] = pull(source(url, severities=severities, default_severity="high"))
    found = {s.uid: s.severity for s in batch.signals}
    assert found == {
        "alertmanager:00000000000000c1": Severity.CRITICAL,
        "alertmanager:00000000000000c2": Severity.LOW,
    }
    st.alerts.append(crash_looping("c", "00000000000000c3", severity="unheard-of"))
    [batch] = pull(source(url, default_severity="high"))
    assert {str(s.uid): s.severity for s in batch.signals}["alertmanager:00000000000000c3"] is (
        Severity.HIGH
    )


def test_a_namespace_without_a_cluster_is_quarantined_with_a_tip(
    state: tuple[AlertmanagerState, str],
) -> None:
    st, url = state
    st.alerts.append(
        kube_alert(
            {"alertname": "KubeQuotaExceeded", "namespace": "shop"},
            fingerprint="00000000000000d1",
            moment=MOMENT,
        )
    )
    [batch] = pull(source(url, cluster=None))
    [bad] = batch.quarantined
    assert bad.reason == "bad_asset"
    assert "labels.cluster" in bad.detail


def test_unreachable_is_an_error_never_an_empty_healthy_answer() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = source(f"http://127.0.0.1:{port}", max_retries=0)
    with pytest.raises(SourceError, match="cannot reach"):
        pull(src)


def test_an_answer_that_is_not_a_list_of_alerts_is_an_error(
    state: tuple[AlertmanagerState, str],
) -> None:
    st, url = state
    st.scripted.queue(200, json.dumps({"status": "success", "data": []}).encode())
    with pytest.raises(SourceError, match="not a list of alerts"):
        pull(source(url))


def test_a_corrupt_watermark_says_to_reset_it(state: tuple[AlertmanagerState, str]) -> None:
    _, url = state
    with pytest.raises(SourceError, match="tip: reset it"):
        pull(source(url), "{not json")


def test_credentials_go_together_and_are_one_kind() -> None:
    with pytest.raises(ValidationError, match="username and password go together"):
        AlertmanagerConfig(base_url="http://am:9093", username="x")
    with pytest.raises(ValidationError, match="not both"):
        AlertmanagerConfig(
            base_url="http://am:9093",
            username="x",
            password=SecretStr("p"),
            bearer_token=SecretStr("t"),
        )


def test_a_webhook_body_can_be_ingested_and_its_resolved_alerts_are_resolved() -> None:
    firing = crash_looping("checkout-1", "00000000000000e1")
    resolved = {**crash_looping("checkout-2", "00000000000000e2"), "status": "resolved"}
    body = {"version": "4", "status": "firing", "alerts": [firing, resolved]}
    batch = AlertmanagerNormalizer("alertmanager", cluster="prod-eu").normalize(
        json.dumps(body).encode(), location="webhook.json"
    )
    statuses = {s.uid: s.status for s in batch.signals}
    assert statuses == {
        "alertmanager:00000000000000e1": SignalStatus.OPEN,
        "alertmanager:00000000000000e2": SignalStatus.RESOLVED,
    }


def test_the_label_mapping_is_configurable() -> None:
    mapping = LabelMapping(namespace="kubernetes_namespace", workloads={"app": "deployment"})
    config = AlertmanagerConfig(base_url="http://am:9093", cluster="c", labels=mapping)
    assert config.labels.workloads == {"app": "deployment"}


def test_an_unplaced_alert_read_again_is_kept_under_one_digest(
    state: tuple[AlertmanagerState, str],
) -> None:
    st, url = state
    st.alerts.append(
        kube_alert({"alertname": "Watchdog"}, fingerprint="00000000000000f9", moment=MOMENT)
    )
    [first] = pull(source(url))
    st.alerts[0]["updatedAt"] = "2026-11-28T11:59:00.000Z"  # Prometheus sent it again
    [again] = pull(source(url))
    assert first.quarantined[0].digest == again.quarantined[0].digest
    assert first.quarantined[0].payload != again.quarantined[0].payload
