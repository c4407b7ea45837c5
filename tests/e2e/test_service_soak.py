"""A real ``clearance serve`` with the Kubernetes inventory keeps its view current for as long
as it runs: past the policy's inventory freshness limit there is no stale stance, and a pod
created after start-up is seen by the next decision."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from served import Served, serve

from builders import POLICY_YAML
from standins.kube_apiserver import KubeApiServer, load_cluster

FIXTURES = Path(__file__).parents[1] / "fixtures" / "k8s"
FRESHNESS_SECONDS = 3  # the test policy's limit for inventory:k8s
ICX_DB = {
    "environment": "production",
    "cluster": "prod-eu",
    "namespace": "icx",
    "workload": "deployment/icx-db",
}


def _policy() -> str:
    data = yaml.safe_load(POLICY_YAML)
    data["environments"]["production"]["freshness"] = {
        "default": "1d",
        "inventory:k8s": f"{FRESHNESS_SECONDS}s",
    }
    return yaml.safe_dump(data)


def _critical_on(host: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "uid": f"edr:{host}",
        "source": "edr",
        "kind": "detection",
        "title": "Credential dumping",
        "severity": 5,
        "confidence": 0.95,
        "status": "open",
        "first_seen": now,
        "last_seen": now,
        "assets": [f"host:{host}"],
    }


@pytest.fixture
def cluster() -> Iterator[KubeApiServer]:
    with KubeApiServer(load_cluster(FIXTURES / "prod-eu.cluster.json")) as server:
        yield server


@pytest.fixture
def service(tmp_path: Path, cluster: KubeApiServer) -> Iterator[Served]:
    (tmp_path / "policy.yaml").write_text(_policy())
    (tmp_path / "edr.jsonl").write_text(json.dumps(_critical_on("duckboat-02")) + "\n")
    cluster.write_kubeconfig(tmp_path / "kubeconfig")
    config = {
        "policy": "policy.yaml",
        "sources": [{"name": "edr", "type": "file", "path": "edr.jsonl"}],
        "inventory": {
            "name": "k8s",
            "type": "kubernetes",
            "kubeconfig": "kubeconfig",
            "clusters": [{"name": "prod-eu"}],
            "watch_timeout_seconds": 2,  # watches end and re-open several times in the test
        },
    }
    (tmp_path / "clearance.yaml").write_text(yaml.safe_dump(config))
    with serve(tmp_path / "clearance.yaml", f"sqlite:///{tmp_path / 'soak.db'}") as served:
        _until(lambda: _synced(served), "the edr source was pulled into the store")
        yield served


def _synced(served: Served) -> bool:
    sources = served.get("/v1/sources").json()["sources"]
    return any(s["name"] == "edr" and s["last_success"] for s in sources)


def _until(check: Any, what: str, attempts: int = 400) -> None:
    for _ in range(attempts):
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"never happened: {what}")


def test_the_inventory_stays_fresh_and_sees_pods_created_after_start_up(
    service: Served, cluster: KubeApiServer
) -> None:
    first = service.decide(ICX_DB)["decision"]
    assert first["verdict"] == "proceed", first["reasons"]
    assert first["degraded"] == []
    started = time.monotonic()

    # Outlive the inventory's freshness limit several times over, asking as we go.
    while time.monotonic() - started < 3 * FRESHNESS_SECONDS:
        decision = service.decide(ICX_DB)["decision"]
        assert decision["degraded"] == [], decision["reasons"]
        time.sleep(0.5)
    inventory = next(
        s for s in service.get("/v1/sources").json()["sources"] if s["name"] == "inventory:k8s"
    )
    assert inventory["last_error"] is None

    # A new replica lands on the node with the critical detection.
    pod = copy.deepcopy(
        next(
            obj
            for obj, _ in cluster.cluster.store["pods"].values()
            if obj["metadata"]["namespace"] == "icx"
        )
    )
    pod["metadata"] |= {"name": "icx-db-7d4b578979-late1", "uid": "late-pod-uid-1"}
    pod["spec"]["nodeName"] = "duckboat-02"
    cluster.cluster.add("pods", pod)

    def blocked() -> bool:
        return bool(service.decide(ICX_DB)["decision"]["verdict"] == "block")

    _until(blocked, "the decision saw the pod created after start-up")
    decision = service.decide(ICX_DB)["decision"]
    assert decision["degraded"] == []
    (contributor,) = decision["contributors"]
    assert contributor["matched"] == "host:duckboat-02"
    assert any(r["code"] == "rule:critical-detection-near-target" for r in decision["reasons"])
