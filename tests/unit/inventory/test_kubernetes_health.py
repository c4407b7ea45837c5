"""The target's Kubernetes health: pods, rollout and nodes, from their status, as signals.

The cluster is ``tests/fixtures/k8s/prod-eu.cluster.json`` (all healthy); each test puts one
object into an unhealthy state with the status block the kubelet, the node controller or the
deployment controller writes (shapes: ``tests/fixtures/k8s/status.*.json``).
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from clearance.inventory.kubernetes.cache import ClusterCache
from clearance.inventory.kubernetes.resolve import resolve_in_cluster
from clearance.model.assets import AssetKind, AssetRef
from clearance.model.health import HealthCondition, Problem, health_signals
from clearance.model.signal import Severity, SignalKind, parse_time
from clearance.model.target import Target

FIXTURES = Path(__file__).parents[2] / "fixtures" / "k8s"
CLUSTER = json.loads((FIXTURES / "prod-eu.cluster.json").read_text())
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ICX_DB = Target.of("production", "prod-eu", "icx", "deployment/icx-db")
POD = "icx-db-7d4b578979-2w75j"
KIND = {
    "nodes": "node",
    "pods": "pod",
    "replicasets": "replicaset",
    "deployments": "deployment",
    "statefulsets": "statefulset",
    "daemonsets": "daemonset",
    "jobs": "job",
    "cronjobs": "cronjob",
}


def status(name: str) -> Any:
    return json.loads((FIXTURES / f"status.{name}.json").read_text())


def cluster(**patch: Any) -> ClusterCache:
    """The fixture cluster with ``pod``, ``node`` (duckboat-01) or ``deployment`` (icx-db)
    status (and node ``spec``) replaced."""
    objects = copy.deepcopy(CLUSTER)
    pod = next(p for p in objects["pods"] if p["metadata"]["name"] == POD)
    node = next(n for n in objects["nodes"] if n["metadata"]["name"] == "duckboat-01")
    deployment = next(d for d in objects["deployments"] if d["metadata"]["name"] == "icx-db")
    if "pod" in patch:
        pod["status"] = patch["pod"]
    if "node_conditions" in patch:
        node["status"]["conditions"] = patch["node_conditions"]
    if "node_spec" in patch:
        node["spec"].update(patch["node_spec"])
    if "deployment" in patch:
        deployment["status"] = patch["deployment"]
    cache = ClusterCache("prod-eu", lambda: NOW)
    for plural, items in objects.items():
        cache.replace(KIND[plural], items, "1")
    return cache


def conditions(cache: ClusterCache, **kw: Any) -> list[HealthCondition]:
    return list(resolve_in_cluster(cache, ICX_DB, **kw).conditions)


def test_a_healthy_workload_on_healthy_nodes_has_no_health_conditions() -> None:
    for ns, workload in (("icx", "deployment/icx-db"), ("default", "deployment/kotsadm-api")):
        target = Target.of("production", "prod-eu", ns, workload)
        assert not resolve_in_cluster(cluster(), target).conditions


def test_a_crash_looping_pod_is_one_high_signal_on_the_pod_seen_now() -> None:
    [found] = conditions(cluster(pod=status("crashloopbackoff")))
    assert found.problem is Problem.CRASH_LOOP
    assert found.assets == (AssetRef(AssetKind.POD, f"icx/{POD}"),)
    assert found.count == 7
    [signal] = health_signals((found,), NOW)
    assert signal.kind is SignalKind.HEALTH
    assert signal.rule == "CrashLoopBackOff"
    assert signal.severity is Severity.HIGH
    assert signal.uid == f"kubernetes:prod-eu/pod/icx/{POD}/CrashLoopBackOff"
    assert "container nginx: CrashLoopBackOff, 7 restarts" in signal.title
    # Not ready since the Ready condition turned False; still so at the decision's now.
    assert signal.first_seen == parse_time("2026-11-28T11:41:07Z")
    assert signal.last_seen == NOW


def test_an_image_pull_back_off_is_reported_as_such_not_as_not_ready() -> None:
    found = conditions(cluster(pod=status("imagepullbackoff")))
    assert [c.problem for c in found] == [Problem.IMAGE_PULL]


def test_restarts_count_from_the_threshold_and_date_from_the_last_exit() -> None:
    restarting = status("restarting")
    [found] = conditions(cluster(pod=restarting), restarts=3)
    assert found.problem is Problem.RESTARTING
    assert found.count == 4
    [signal] = health_signals((found,), NOW)
    assert signal.last_seen == parse_time("2026-11-28T11:52:30Z")  # an event: it fades
    assert not conditions(cluster(pod=restarting), restarts=5)


def test_an_evicted_pod_is_a_low_event() -> None:
    [found] = conditions(cluster(pod=status("evicted")))
    assert found.problem is Problem.EVICTED
    assert found.problem.severity is Severity.LOW


def test_a_pod_not_ready_without_a_container_cause_is_not_ready() -> None:
    not_ready = status("crashloopbackoff")
    for cs in not_ready["containerStatuses"]:
        cs["state"] = {"running": {"startedAt": "2026-11-28T11:58:00Z"}}
        cs["restartCount"] = 0
    [found] = conditions(cluster(pod=not_ready))
    assert found.problem is Problem.POD_NOT_READY


def test_a_stuck_rollout_is_a_signal_on_the_workload() -> None:
    [found] = conditions(cluster(deployment=status("progress-deadline-exceeded")))
    assert found.problem is Problem.ROLLOUT_STUCK
    assert found.assets == (AssetRef(AssetKind.WORKLOAD, "prod-eu/icx/deployment/icx-db"),)
    assert "ProgressDeadlineExceeded" in found.detail or "timed out" in found.detail


def test_the_node_it_runs_on_under_pressure_not_ready_or_cordoned() -> None:
    cache = cluster(
        node_conditions=status("node-pressure"),
        node_spec={
            "unschedulable": True,
            "taints": [
                {
                    "key": "node.kubernetes.io/unschedulable",
                    "effect": "NoSchedule",
                    "timeAdded": "2026-11-28T10:00:00Z",
                }
            ],
        },
    )
    found = {c.problem: c for c in conditions(cache)}
    assert set(found) == {
        Problem.MEMORY_PRESSURE,
        Problem.NODE_NOT_READY,
        Problem.NODE_CORDONED,
    }
    assert AssetRef(AssetKind.HOST, "duckboat-01") in found[Problem.MEMORY_PRESSURE].assets
    assert found[Problem.NODE_CORDONED].since == parse_time("2026-11-28T10:00:00Z")
    # Another workload on the other node is not affected.
    other = Target.of("production", "prod-eu", "default", "deployment/kotsadm-api")
    assert not resolve_in_cluster(cache, other).conditions


def test_health_fields_of_an_unexpected_shape_never_cost_the_pod() -> None:
    odd = {
        "phase": "Running",
        "conditions": "not a list",
        "containerStatuses": [
            {"name": "nginx", "restartCount": "many", "state": [], "lastState": None},
        ],
    }
    result = resolve_in_cluster(cluster(pod=odd), ICX_DB)
    assert ("pod", f"icx/{POD}") in {(r.kind.value, r.value) for _, r in result.found}
    assert not result.conditions


def test_a_cluster_time_ahead_of_the_decision_counts_as_now() -> None:
    ahead = HealthCondition(
        "c", "pod a/b", Problem.CRASH_LOOP, "x", (AssetRef(AssetKind.POD, "a/b"),),
        NOW + timedelta(minutes=5),
    )  # fmt: skip
    [signal] = health_signals((ahead,), NOW)
    assert signal.first_seen == signal.last_seen == NOW


_CONDITION = st.builds(
    HealthCondition,
    cluster=st.sampled_from(["prod-eu", "prod-us"]),
    subject=st.sampled_from(["pod shop/a", "pod shop/b", "node n1", "deployment shop/api"]),
    problem=st.sampled_from(list(Problem)),
    detail=st.text(max_size=40),
    assets=st.just((AssetRef(AssetKind.POD, "shop/a"),)),
    since=st.none() | st.datetimes(timezones=st.just(UTC)),
    count=st.integers(min_value=0, max_value=1000),
)


@given(st.lists(_CONDITION, max_size=12), st.randoms())
def test_health_signals_are_the_same_whatever_the_order(
    found: list[HealthCondition], rng: random.Random
) -> None:
    shuffled = list(found)
    rng.shuffle(shuffled)
    first = health_signals(tuple(found), NOW)
    assert first == health_signals(tuple(shuffled), NOW)
    for s in first:
        assert s.first_seen <= s.last_seen <= NOW
        assert s.kind is SignalKind.HEALTH
        assert s.count >= 1
