"""Every inventory passes the inventory contract; here, the Kubernetes one against its stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clearance.inventory.kubernetes import KubernetesInventory, KubernetesInventoryConfig
from clearance.model.target import Target
from contract.inventory_contract import InventoryCase, InventoryContract
from standins.kube_apiserver import KubeApiServer, load_cluster

CLUSTER = Path(__file__).parents[1] / "fixtures" / "k8s" / "prod-eu.cluster.json"


class TestKubernetesInventoryContract(InventoryContract):
    @pytest.fixture
    def case(self, tmp_path: Path) -> Iterator[InventoryCase]:
        with KubeApiServer(load_cluster(CLUSTER)) as server:
            kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
            config = KubernetesInventoryConfig.model_validate(
                {"kubeconfig": str(kubeconfig), "clusters": [{"name": "prod-eu"}]}
            )
            inventory = KubernetesInventory.create("k8s", config, base_dir=tmp_path)
            yield InventoryCase(
                inventory=inventory,
                known=Target.of("production", "prod-eu", "icx", "deployment/icx-db"),
                expected_refs={
                    "pod:icx/icx-db-7d4b578979-2w75j",
                    "host:duckboat-01",
                    "instance:i-03dc801fd988ab620",
                    "namespace:prod-eu/icx",
                    "cluster:prod-eu",
                },
            )
            inventory.stop()
