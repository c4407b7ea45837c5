"""Pod template drift through the real service, with the Kubernetes stand-in as the inventory.

``icx/icx-db`` in tests/fixtures/k8s/prod-eu.cluster.json is decided as it runs; then its
Deployment is edited outside the gate (an env variable, privileged, a hostPath volume: a
``kubectl edit``), and the next decision reports drift naming each change, replays byte for
byte, and the one after it (which saw the edit) does not. A change that came through the gate
with its manifest is not drift once it is live.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clearance.audit.replay import replay
from clearance.inventory.kubernetes.inventory import KubernetesInventory, KubernetesInventoryConfig
from server_harness import Live
from standins.kube_apiserver import FakeCluster, KubeApiServer, load_cluster

ROOT = Path(__file__).parents[3]
CLUSTER = ROOT / "tests" / "fixtures" / "k8s" / "prod-eu.cluster.json"
BODY = {
    "environment": "production",
    "cluster": "prod-eu",
    "namespace": "icx",
    "workload": "deployment/icx-db",
}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[FakeCluster, Path]]:
    fake = load_cluster(CLUSTER)
    with KubeApiServer(fake) as server:
        yield fake, server.write_kubeconfig(tmp_path / "kubeconfig")


def icx_db(fake: FakeCluster) -> dict[str, Any]:
    (deployment,) = [
        obj for obj, _ in fake.store["deployments"].values() if obj["metadata"]["name"] == "icx-db"
    ]
    return copy.deepcopy(deployment)


def test_a_pod_template_edited_outside_the_gate_is_drift_naming_what_changed(
    live: Callable[..., Live], cluster: tuple[FakeCluster, Path], tmp_path: Path
) -> None:
    fake, kubeconfig = cluster
    server = live(policy=(ROOT / "examples" / "policy.yaml").read_text())
    inventories: list[KubernetesInventory] = []

    def look() -> None:
        """A fresh inventory over the stand-in: it lists the cluster as it stands now."""
        config = KubernetesInventoryConfig.model_validate(
            {"kubeconfig": str(kubeconfig), "clusters": [{"name": "prod-eu"}]}
        )
        inventory = KubernetesInventory.create("k8s", config, base_dir=tmp_path)
        server.ctx.decisions.inventory = inventory
        while inventories:  # one inventory watching the stand-in at a time
            inventories.pop().close()
        inventories.append(inventory)

    def ask(**extra: Any) -> dict[str, Any]:
        with server.client("ci") as c:
            response = c.post("/v1/decisions", json={**BODY, **extra})
        assert response.status_code == 200, response.text
        decision: dict[str, Any] = response.json()["decision"]
        return decision

    try:
        look()
        first = ask()  # decided as it runs today
        assert not [r for r in first["reasons"] if r["code"] == "rule:drift"]

        edited = icx_db(fake)
        spec = edited["spec"]["template"]["spec"]
        container = spec["containers"][0]
        container["env"].append({"name": "DEBUG", "value": "1"})
        container["securityContext"] = {"privileged": True}
        container["volumeMounts"] = [{"name": "docker", "mountPath": "/var/run/docker.sock"}]
        spec["volumes"] = [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]
        fake.modify("deployments", edited)  # kubectl edit: no decision
        look()
        drifted = ask()
        assert drifted["verdict"] == "approve"
        (reason,) = [r for r in drifted["reasons"] if r["code"] == "rule:drift"]
        assert "pod template changed outside the gate" in reason["message"]
        for change in (
            "container icx-db env added: DEBUG",
            "container icx-db privileged",
            "hostPath volume(s) added: /var/run/docker.sock",
        ):
            assert change in reason["message"], reason["message"]
        assert f"its last decision was {first['id']}" in reason["message"]
        assert replay(server.ctx.store, drifted["id"]).identical

        # That decision saw the edited template: the next one is not drift again.
        again = ask()
        assert not [r for r in again["reasons"] if r["code"] == "rule:drift"]

        # Through the gate: the manifest brings a new command; once it is live, no drift.
        gated = icx_db(fake)
        gated["spec"]["template"]["spec"]["containers"][0]["command"] = ["postgres", "-N", "500"]
        manifest = {"apiVersion": "apps/v1", "kind": "Deployment", **gated}
        manifest["metadata"] = {"name": "icx-db", "namespace": "icx"}
        ask(manifest=manifest)
        fake.modify("deployments", gated)
        look()
        applied = ask()
        assert not [r for r in applied["reasons"] if r["code"] == "rule:drift"]

        # The recorded snapshot holds the compared subset and its digest, never env values.
        recorded = server.ctx.store.get_decision(drifted["id"]).snapshot["pod_spec"]["live"]
        (db,) = recorded["containers"]
        assert db == {
            "name": "icx-db",
            "env": ["DEBUG", "POSTGRES_PASSWORD", "POSTGRES_USER"],
            "privileged": True,
        }
        assert recorded["host_paths"] == ["/var/run/docker.sock"]
        assert recorded["digest"].startswith("sha256:")
        assert '"value": "1"' not in json.dumps(recorded)
    finally:
        for inventory in inventories:
            inventory.close()
