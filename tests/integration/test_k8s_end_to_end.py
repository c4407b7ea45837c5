"""End to end: signals on nodes and pods, resolved through the stand-in cluster, decided.

The signals are built the way the Falcon and Falco adapters emit them (asset refs only, no
adapter involved); the cluster is ``tests/fixtures/k8s/prod-eu.cluster.json``: deployment
``icx/icx-db`` runs on node duckboat-01 (EC2 ``i-03dc801fd988ab620``), ``default/kotsadm-api``
on duckboat-02 (``i-0b7e4d2a9c1f35e86``); both nodes carry the taint ``type=hound:NoSchedule``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from builders import NOW, fresh, make_policy, signal
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.inventory.identity import IdentityGraph
from clearance.inventory.kubernetes.inventory import KubernetesInventory, KubernetesInventoryConfig
from clearance.model import Decision, Proximity, Severity, Signal, Snapshot, Target, Verdict
from closing import closed_after_test
from standins.kube_apiserver import KubeApiServer, load_cluster

CLUSTER = Path(__file__).parents[1] / "fixtures" / "k8s" / "prod-eu.cluster.json"
ICX_DB = Target.of("production", "prod-eu", "icx", "deployment/icx-db")
KOTSADM = Target.of("production", "prod-eu", "default", "deployment/kotsadm-api")
CHECKOUT = Target.of(
    "production", "prod-eu", "shop", "deployment/checkout", ["ghcr.io/acme/checkout:2.0"]
)

# A Falcon endpoint alert on the EC2 instance behind duckboat-01: Falcon names the machine by its
# own hostname and the cloud instance id, not by the Kubernetes node name.
FALCON_ON_NODE_1 = signal(
    "falcon:ldt:aid1:4295013221",
    severity=Severity.CRITICAL,
    assets=("host:EC2AMAZ-7Q3K1", "instance:i-03dc801fd988ab620"),
    title="Credential dumping from LSASS memory",
)


@pytest.fixture
def inventory(tmp_path: Path) -> Iterator[KubernetesInventory]:
    with KubeApiServer(load_cluster(CLUSTER)) as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        config = KubernetesInventoryConfig.model_validate(
            {"kubeconfig": str(kubeconfig), "clusters": [{"name": "prod-eu"}]}
        )
        built = closed_after_test(KubernetesInventory.create("k8s", config, base_dir=tmp_path))
        yield closed_after_test(KubernetesInventory("k8s", built._connect, clock=lambda: NOW))


def check(
    inventory: KubernetesInventory,
    target: Target,
    signals: list[Signal],
    manifest: dict[str, Any] | None = None,
    identities: IdentityGraph | None = None,
) -> tuple[Decision, Snapshot]:
    exposure = inventory.resolve(target, manifest=manifest, identities=identities)
    index = SignalIndex(signals)
    snapshot = Snapshot(
        exposure=exposure,
        matches=index.match(exposure),
        sources=(fresh("falcon"), inventory.health(NOW)),
    )
    return decide(target, snapshot, make_policy(), NOW), snapshot


def test_falcon_alert_on_the_nodes_ec2_instance_blocks_the_workload_running_there(
    inventory: KubernetesInventory,
) -> None:
    decision, snapshot = check(inventory, ICX_DB, [FALCON_ON_NODE_1])
    assert decision.verdict is Verdict.BLOCK
    [match] = snapshot.matches
    assert match.proximity is Proximity.HOST
    assert str(match.matched.ref) == "instance:i-03dc801fd988ab620"
    assert (
        match.matched.via == "pod icx/icx-db-7d4b578979-2w75j → node duckboat-01 → providerID aws"
    )
    assert any(r.code == "rule:critical-detection-near-target" for r in decision.reasons)


def test_the_same_alert_does_not_touch_a_workload_on_another_node(
    inventory: KubernetesInventory,
) -> None:
    decision, snapshot = check(inventory, KOTSADM, [FALCON_ON_NODE_1])
    assert snapshot.matches == ()
    assert decision.verdict is Verdict.PROCEED


def test_falco_event_on_a_pod_of_the_target_matches_directly(
    inventory: KubernetesInventory,
) -> None:
    # Falco names the pod (k8s.ns.name/k8s.pod.name) and the 12-character container id.
    falco = signal(
        "falco:1b4e28ba2fa1",
        severity=Severity.HIGH,
        assets=("pod:icx/icx-db-7d4b578979-2w75j", "container:90e0abf7a779"),
        title="Terminal shell in container",
    )
    decision, snapshot = check(inventory, ICX_DB, [falco])
    [match] = snapshot.matches
    assert match.proximity is Proximity.DIRECT
    assert decision.verdict is not Verdict.PROCEED
    untouched, _ = check(inventory, KOTSADM, [falco])
    assert untouched.verdict is Verdict.PROCEED


def manifest(zone: str, *, tolerate: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "nodeSelector": {"topology.kubernetes.io/zone": zone},
        "containers": [{"name": "checkout", "image": "ghcr.io/acme/checkout:2.0"}],
    }
    if tolerate:
        spec["tolerations"] = [
            {"key": "type", "operator": "Equal", "value": "hound", "effect": "NoSchedule"}
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {"metadata": {"labels": {"app": "checkout"}}, "spec": spec},
        },
    }


def test_new_deployment_scheduled_onto_the_compromised_node_is_blocked(
    inventory: KubernetesInventory,
) -> None:
    decision, snapshot = check(inventory, CHECKOUT, [FALCON_ON_NODE_1], manifest("us-east-1a"))
    assert decision.verdict is Verdict.BLOCK
    [match] = snapshot.matches
    assert match.matched.via.startswith(
        "candidate: new deployment/checkout manifest → node duckboat-01"
    )
    assert any("superset" in n for n in snapshot.exposure.notes)
    assert any("autoscaler" in n for n in snapshot.exposure.notes)


def test_new_deployment_whose_candidates_are_elsewhere_proceeds(
    inventory: KubernetesInventory,
) -> None:
    decision, snapshot = check(inventory, CHECKOUT, [FALCON_ON_NODE_1], manifest("us-east-2d"))
    assert snapshot.matches == ()
    assert snapshot.exposure.unresolved == ()
    assert decision.verdict is Verdict.PROCEED


def test_new_deployment_that_fits_no_node_is_unknown_not_safe(
    inventory: KubernetesInventory,
) -> None:
    decision, snapshot = check(
        inventory, CHECKOUT, [FALCON_ON_NODE_1], manifest("us-east-1a", tolerate=False)
    )
    assert [r.value for r, _ in snapshot.exposure.unresolved] == ["nodes_unknown"]
    assert decision.verdict is Verdict.BLOCK  # production: unknown_target stance is block
    assert any(r.code == "stance:unknown_target" for r in decision.reasons)


def test_a_mac_only_detection_reaches_the_node_through_the_identity_graph(
    inventory: KubernetesInventory,
) -> None:
    # A Falcon device record joins the node's instance id to its MAC; SentinelOne knows the MAC.
    graph = IdentityGraph()
    graph.add(
        {
            "host": ["IP-10-9-150-105"],
            "instance": ["i-03dc801fd988ab620"],
            "mac": ["0a-1b-2c-3d-4e-5f"],
        },
        label="falcon:aid1",
    )
    s1 = signal("sentinelone:1888", severity=Severity.CRITICAL, assets=("mac:0A:1B:2C:3D:4E:5F",))
    decision, snapshot = check(inventory, ICX_DB, [s1], identities=graph)
    [match] = snapshot.matches
    assert match.proximity is Proximity.HOST
    assert match.matched.via.endswith("identity: same machine as instance:i-03dc801fd988ab620")
    assert decision.verdict is Verdict.BLOCK
    other, _ = check(inventory, KOTSADM, [s1], identities=graph)
    assert other.verdict is Verdict.PROCEED
