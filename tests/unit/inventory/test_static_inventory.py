from __future__ import annotations

from pathlib import Path

import pytest

from clearance.errors import InventoryError
from clearance.inventory.static import StaticInventory
from clearance.model import Proximity, Target, UnresolvedReason

INVENTORY = """\
targets:
  - cluster: prod-eu
    namespace: shop
    workload: Deployment/checkout
    assets:
      direct: [pod:shop/checkout-1]
      host: [host:IP-10-0-1-5.ec2.internal, mac:4E-93-8A-29-49-64]
"""


def inventory(tmp_path: Path, text: str = INVENTORY) -> StaticInventory:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    return StaticInventory.from_file("hosts", path)


def test_resolves_listed_assets_plus_workload_namespace_cluster_and_images(tmp_path: Path) -> None:
    target = Target.of("production", "prod-eu", "shop", "deployment/checkout", ["nginx:1.25"])
    exposure = inventory(tmp_path).resolve(target)
    refs = {(a.proximity, str(a.ref)) for a in exposure.assets}
    assert refs == {
        (Proximity.DIRECT, "workload:prod-eu/shop/deployment/checkout"),
        (Proximity.DIRECT, "pod:shop/checkout-1"),
        (Proximity.DIRECT, "image:docker.io/library/nginx:1.25"),
        (Proximity.HOST, "host:ip-10-0-1-5.ec2.internal"),
        (Proximity.HOST, "mac:4e:93:8a:29:49:64"),
        (Proximity.NAMESPACE, "namespace:prod-eu/shop"),
        (Proximity.CLUSTER, "cluster:prod-eu"),
    }
    assert exposure.unresolved == ()


def test_an_unlisted_target_is_reported_not_silently_empty(tmp_path: Path) -> None:
    exposure = inventory(tmp_path).resolve(
        Target.of("production", "prod-eu", "shop", "deployment/cart")
    )
    assert exposure.assets == ()
    assert exposure.unresolved[0][0] is UnresolvedReason.TARGET_NOT_FOUND


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets: [{cluster: c, namespace: n, workload: bad}]", "targets.0.workload"),
        (
            "targets: [{cluster: c, namespace: n, workload: a/b, assets: {near: [host:x]}}]",
            "unknown group 'near'",
        ),
        (
            "targets: [{cluster: c, namespace: n, workload: a/b, assets: {host: [ip:999.1.1.1]}}]",
            "invalid IP",
        ),
        ("targets: [", "not valid YAML"),
    ],
)
def test_a_bad_file_is_an_inventory_error_saying_where(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(InventoryError, match="inventory 'hosts'") as err:
        inventory(tmp_path, text)
    assert message in str(err.value)
