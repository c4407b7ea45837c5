"""Falco normalizer over the real Falco and falcosidekick payloads in tests/fixtures/falco."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clearance.model.signal import Severity, SignalKind, SignalStatus
from clearance.sources.falco.normalize import FalcoNormalizer, severity_of_priority

FIXTURES = Path(__file__).parents[2] / "fixtures" / "falco"
SYSCALL = (FIXTURES / "events.syscall-k8s.falco-website.jsonl").read_bytes()
AUDIT = (FIXTURES / "events.k8s_audit.falco-website.jsonl").read_bytes()


def _lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def _assets(signal: Any) -> set[str]:
    return {str(a) for a in signal.assets}


def test_repeats_of_a_rule_on_one_pod_fold_into_one_signal_with_count_and_times() -> None:
    batch = FalcoNormalizer(cluster="prod-eu").normalize(SYSCALL, location="syscall.jsonl")

    assert batch.quarantined == ()
    assert sum(s.count for s in batch.signals) == 9
    (shells,) = [s for s in batch.signals if "pod:default/alpine" in _assets(s)]
    assert shells.count == 4  # four shells in four containers of pod default/alpine
    assert shells.rule == "Terminal shell in container"
    assert shells.first_seen == datetime(2021, 1, 11, 23, 46, 19, 823027, tzinfo=UTC)
    assert shells.last_seen == datetime(2021, 7, 21, 10, 36, 32, 750441, tzinfo=UTC)
    assert {"container:5892b41bcf46", "container:cbd3133ccac6"} <= _assets(shells)
    assert shells.kind is SignalKind.DETECTION
    assert shells.status is SignalStatus.OPEN
    assert shells.confidence == 1.0


def test_uid_is_stable_so_later_events_update_the_same_signal() -> None:
    events = SYSCALL.splitlines()
    whole = FalcoNormalizer(cluster="prod-eu").normalize(SYSCALL)
    later = FalcoNormalizer(cluster="prod-eu").normalize(events[-2])  # one event, another day
    (signal,) = later.signals
    assert signal.uid in {s.uid for s in whole.signals}
    assert signal.uid.startswith("falco:")
    other_cluster = FalcoNormalizer(cluster="prod-us").normalize(events[-2]).signals[0]
    assert other_cluster.uid != signal.uid  # same pod name, different cluster


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        ("Emergency", Severity.CRITICAL),
        ("ALERT", Severity.CRITICAL),
        ("Critical", Severity.CRITICAL),
        ("Error", Severity.HIGH),
        ("Warning", Severity.MEDIUM),
        ("notice", Severity.LOW),
        ("Informational", Severity.INFORMATIONAL),
        ("Debug", Severity.INFORMATIONAL),
    ],
)
def test_priorities_map_to_severity(priority: str, severity: Severity) -> None:
    assert severity_of_priority(priority) is severity
    event = _lines(SYSCALL)[0] | {"priority": priority}
    (signal,) = FalcoNormalizer().normalize(json.dumps(event).encode()).signals
    assert signal.severity is severity


def test_hostname_is_the_node_only_when_configured() -> None:
    first = SYSCALL.splitlines()[0]  # hostname falco-xczjd: the Falco pod under a DaemonSet
    (default,) = FalcoNormalizer(cluster="c").normalize(first).signals
    assert not any(a.startswith("host:") for a in _assets(default))
    (node,) = FalcoNormalizer(cluster="c", hostname_is_node=True).normalize(first).signals
    assert "host:falco-xczjd" in _assets(node)


def test_assets_name_pod_namespace_cluster_container_and_tagged_image() -> None:
    events = _lines(SYSCALL)
    (signal,) = FalcoNormalizer(cluster="Prod-EU").normalize(json.dumps(events[3]).encode()).signals
    assert _assets(signal) == {
        "pod:openfaas-fn/falco-pod-delete-7dc9f5fbb8-gbfk7",
        "namespace:prod-eu/openfaas-fn",
        "cluster:prod-eu",
        "container:12fc4de5ccc3",
        "image:docker.io/devopps/falco-pod-delete:latest",
    }


def test_an_image_without_tag_or_digest_is_not_assumed_latest() -> None:
    (signal,) = FalcoNormalizer().normalize(SYSCALL.splitlines()[0]).signals
    assert not any(a.startswith("image:") for a in _assets(signal))  # repository only


def test_full_container_id_and_image_digest_are_preferred() -> None:
    digest = "sha256:" + "ab" * 32
    event = _lines(SYSCALL)[0]
    event["output_fields"] |= {
        "container.full_id": "ee97d9c4186f" + "0" * 52,
        "container.image.digest": digest,
    }
    (signal,) = FalcoNormalizer().normalize(json.dumps(event).encode()).signals
    assert f"container:ee97d9c4186f{'0' * 52}" in _assets(signal)
    assert f"image:docker.io/library/alpine@{digest}" in _assets(signal)


def test_cluster_can_come_from_a_falcosidekick_custom_field() -> None:
    event = _lines(SYSCALL)[0]
    event["output_fields"]["cluster"] = "edge-7"  # falcosidekick customfields: cluster:edge-7
    body = json.dumps(event).encode()
    (signal,) = FalcoNormalizer(cluster="prod", cluster_field="cluster").normalize(body).signals
    assert {"cluster:edge-7", "namespace:edge-7/default"} <= _assets(signal)
    (ignored,) = FalcoNormalizer(cluster="prod").normalize(body).signals
    assert "cluster:prod" in _assets(ignored)


def test_internal_metrics_and_test_events_are_skipped_and_counted_not_quarantined() -> None:
    normalizer = FalcoNormalizer()
    metrics = (FIXTURES / "event.internal-metrics-snapshot.falco-website.json").read_bytes()
    test_event = json.dumps(
        {"output": "This is a test from falcosidekick", "priority": "Debug", "rule": "Test rule"}
    ).encode()
    assert normalizer.normalize(metrics) == normalizer.normalize(test_event)
    batch = normalizer.normalize(metrics)
    assert batch.signals == ()
    assert batch.quarantined == ()
    assert normalizer.skipped == {"internal": 2, "test_event": 1}


def test_k8s_audit_events_name_the_object_acted_on_and_the_user() -> None:
    batch = FalcoNormalizer(cluster="ovh").normalize(AUDIT)
    assert batch.quarantined == ()
    exec_ = [s for s in batch.signals if s.rule == "Attach/Exec Pod"]
    assert {frozenset(_assets(s)) for s in exec_} == {
        frozenset({"pod:default/kubecon", "namespace:ovh/default", "cluster:ovh"}),
        frozenset(
            {"pod:hello-app/nginx-676b6c5bbc-4xc6t", "namespace:ovh/hello-app", "cluster:ovh"}
        ),
    }
    assert all("user=kubernetes-admin" in s.title for s in exec_)
    assert not any(a.startswith("host:") for s in batch.signals for a in _assets(s))


def test_k8s_audit_without_a_cluster_keeps_namespaced_events_and_quarantines_the_rest() -> None:
    batch = FalcoNormalizer().normalize(AUDIT)
    assert len(batch.signals) == 2  # the two pod execs: pod ns/name needs no cluster
    assert {q.reason for q in batch.quarantined} == {"no_asset"}
    assert all("cluster" in q.detail for q in batch.quarantined)


def test_falcosidekick_payloads_one_or_a_list() -> None:
    sidekick = (FIXTURES / "falcosidekick-payload.ocsf-examples.json").read_bytes()
    readme = (FIXTURES / "falcosidekick-readme-test-payload.json").read_bytes()
    both = b"[" + sidekick + b"," + readme + b"]"
    batch = FalcoNormalizer(hostname_is_node=True).normalize(both, location="webhook")
    assert {s.rule for s in batch.signals} == {
        "Linux Kernel Module Injection Detected",
        "Write below binary dir",
    }
    assert {"host:host0.local", "host:localhost"} <= {a for s in batch.signals for a in _assets(s)}


def test_a_host_event_with_no_node_and_no_cluster_is_quarantined_with_a_tip() -> None:
    readme = (FIXTURES / "falcosidekick-readme-test-payload.json").read_bytes()
    batch = FalcoNormalizer().normalize(readme, location="webhook")
    (bad,) = batch.quarantined
    assert (bad.reason, bad.location) == ("no_asset", "webhook")
    assert "hostname_is_node" in bad.detail
    assert bad.digest.startswith("sha256:")
    (clustered,) = FalcoNormalizer(cluster="prod").normalize(readme).signals
    assert _assets(clustered) == {"cluster:prod"}


def test_title_drops_falcos_time_and_priority_prefix() -> None:
    (signal,) = FalcoNormalizer().normalize(SYSCALL.splitlines()[0]).signals
    assert signal.title.startswith("A shell was spawned in a container")


def test_bad_lines_are_quarantined_by_line_and_reason_and_neighbours_kept() -> None:
    good = SYSCALL.splitlines()
    event = _lines(SYSCALL)[0]
    no_rule = {k: v for k, v in event.items() if k != "rule"}
    bad_priority = event | {"priority": "Severe"}
    bad_time = event | {"time": "yesterday"}
    body = b"\n".join(
        [
            good[0],
            b"{not json",
            json.dumps(no_rule).encode(),
            json.dumps(bad_priority).encode(),
            json.dumps(bad_time).encode(),
            b"[1, 2]",
            *good[1:],
        ]
    )
    batch = FalcoNormalizer(cluster="c").normalize(body, location="falco.jsonl")
    assert sum(s.count for s in batch.signals) == 9
    found = {(q.reason, q.location) for q in batch.quarantined}
    assert found == {
        ("invalid_json", "falco.jsonl: line 2"),
        ("missing_field", "falco.jsonl: line 3"),
        ("invalid_value", "falco.jsonl: line 4"),
        ("invalid_value", "falco.jsonl: line 5"),
        ("invalid_item", "falco.jsonl: line 6"),
    }
    assert all(q.digest.startswith("sha256:") and q.payload for q in batch.quarantined)


def test_time_falls_back_to_evt_time_nanoseconds() -> None:
    event = _lines(SYSCALL)[0]
    del event["time"]
    (signal,) = FalcoNormalizer().normalize(json.dumps(event).encode()).signals
    assert signal.first_seen == datetime(2023, 5, 25, 13, 44, 5, 478446, tzinfo=UTC)


def test_a_plugin_event_outside_the_cluster_is_not_pinned_on_the_cluster() -> None:
    cloudtrail = {
        "output": "10:00:00.000000000: Warning CloudTrail logging disabled (user=admin)",
        "priority": "Warning",
        "rule": "CloudTrail Logging Disabled",
        "source": "aws_cloudtrail",
        "time": "2024-05-01T10:00:00.000000000Z",
        "hostname": "falco-abcde",
        "output_fields": {"ct.user": "admin"},
    }
    body = json.dumps(cloudtrail).encode()
    batch = FalcoNormalizer(cluster="prod", hostname_is_node=True).normalize(body)
    (bad,) = batch.quarantined
    assert bad.reason == "no_asset"
    assert "aws_cloudtrail" in bad.detail
