"""Every inventory passes the inventory contract: Kubernetes (against its stand-in) and static."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clearance.inventory.kubernetes.inventory import KubernetesInventory, KubernetesInventoryConfig
from clearance.inventory.static import StaticInventory
from clearance.model.target import Target
from closing import closed_after_test
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
            inventory = closed_after_test(
                KubernetesInventory.create("k8s", config, base_dir=tmp_path)
            )
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


STATIC = """\
targets:
  - cluster: prod-eu
    namespace: shop
    workload: deployment/checkout
    assets:
      direct: [pod:shop/checkout-7d9f6c-abcde]
      host: [host:ip-10-0-1-5.eu-west-1.compute.internal, instance:i-0a1b2c3d4e5f60718]
"""


class TestStaticInventoryContract(InventoryContract):
    @pytest.fixture
    def case(self, tmp_path: Path) -> InventoryCase:
        path = tmp_path / "inventory.yaml"
        path.write_text(STATIC)
        return InventoryCase(
            inventory=StaticInventory.from_file("hosts", path),
            known=Target.of("production", "prod-eu", "shop", "deployment/checkout"),
            expected_refs={"pod:shop/checkout-7d9f6c-abcde", "instance:i-0a1b2c3d4e5f60718"},
        )
