"""Parsing real Kubernetes objects: pods' containers and images, nodes' identities."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.inventory.kubernetes.cache import parse_all
from clearance.inventory.kubernetes.nodes import parse_provider_id
from clearance.inventory.kubernetes.objects import (
    MalformedObjectError,
    image_refs,
    parse_controller,
    parse_node,
    parse_pod,
)
from clearance.model.assets import AssetKind, asset

FIXTURES = Path(__file__).parents[2] / "fixtures" / "k8s"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def refs_of(pod_or_node: Any) -> set[str]:
    return {str(ref) for ref, _ in pod_or_node.refs}


def test_docker_pod_gives_pod_full_container_id_and_digest_with_tag() -> None:
    pod = parse_pod(load("k9s.pod.gke-node.replicaset-owned.json"))
    assert refs_of(pod) == {
        "pod:default/nginx-7fb78fb6d8-2w75j",
        "container:90e0abf7a779dd76d36038883312baed57a8351428a1d6340df3cff698f51809",
        "image:k8s.gcr.io/nginx-slim:0.8@sha256:"
        "8b4501fe0fe221df663c22e16539f399e89594552f400408303c42f3dd8d0e52",
    }
    assert pod.owner_uid == "7ccd0600-2c03-11ea-883f-42010a800044"
    assert pod.node_name == "gke-k9s-default-pool-0fa2fb89-lbtf"
    assert pod.scheduling is None  # placed: its constraints no longer matter


def test_containerd_pod_with_init_and_sidecar_containers() -> None:
    pod = parse_pod(load("k9s.pod.kind-containerd.sidecar.json"))
    containers = [ref for ref, _ in pod.refs if ref.kind is AssetKind.CONTAINER]
    assert len(containers) >= 2
    assert all(len(c.value) == 64 and "://" not in c.value for c in containers)
    vias = {via for ref, via in pod.refs if ref.kind is AssetKind.CONTAINER}
    assert all(v.startswith("pod default/sleep container ") for v in vias)


@pytest.mark.parametrize(
    ("image", "image_id", "expected"),
    [
        pytest.param(
            "nginx:1.25",
            "docker-pullable://nginx@sha256:" + "a" * 64,
            {"image:docker.io/library/nginx:1.25@sha256:" + "a" * 64},
            id="docker",
        ),
        pytest.param(
            "docker.io/library/nginx:1.25",
            "docker.io/library/nginx@sha256:" + "b" * 64,
            {"image:docker.io/library/nginx:1.25@sha256:" + "b" * 64},
            id="containerd",
        ),
        pytest.param(
            "localhost/app:dev",
            "sha256:" + "c" * 64,
            {"image:localhost/app:dev", str(asset(AssetKind.IMAGE, "sha256:" + "c" * 64))},
            id="bare-image-id",
        ),
        pytest.param(
            "app:1",
            "docker.io/mirror/app@sha256:" + "d" * 64,
            {"image:docker.io/mirror/app@sha256:" + "d" * 64, "image:docker.io/library/app:1"},
            id="different-repository",
        ),
    ],
)
def test_image_refs_in_every_runtime_form(image: str, image_id: str, expected: set[str]) -> None:
    assert {str(r) for r in image_refs(image, image_id)} == expected


def test_pending_pod_keeps_its_scheduling_constraints() -> None:
    pod = parse_pod(load("troubleshoot.pod.pending-node-affinity.json")["items"][0])
    assert pod.node_name is None
    assert pod.scheduling is not None
    assert pod.scheduling.required_terms is not None
    ops = {(r.key, r.operator) for r in pod.scheduling.required_terms[0].expressions}
    assert ops == {("kubernetes.io/os", "In"), ("kubernetes.io/arch", "NotIn")}


def test_replicaset_is_owned_by_its_deployment_by_uid() -> None:
    deployment = parse_controller(load("k9s.deployment.json"), "deployment")
    replicaset = parse_controller(load("k9s.replicaset.deployment-owned.json"), "replicaset")
    assert replicaset.owner_uid == deployment.uid
    assert deployment.scheduling is not None


@pytest.mark.parametrize(
    ("mangle", "problem"),
    [
        (lambda p: p["metadata"].pop("uid"), "metadata.uid missing"),
        (lambda p: p["status"].update(containerStatuses="oops"), ""),
        (
            lambda p: p["status"]["containerStatuses"][0].update(containerID="docker://xyz"),
            "container id",
        ),
        (lambda p: p["metadata"].update(ownerReferences=[{"controller": True}]), "without uid"),
    ],
)
def test_malformed_pod_names_itself(mangle: Any, problem: str) -> None:
    pod = copy.deepcopy(load("k9s.pod.gke-node.replicaset-owned.json"))
    mangle(pod)
    with pytest.raises(MalformedObjectError) as err:
        parse_pod(pod)
    assert "nginx-7fb78fb6d8-2w75j" in str(err.value)
    assert problem in str(err.value)


def test_eks_node_is_known_by_name_hostname_dns_ip_and_instance() -> None:
    node = parse_node(load("honeycomb.nodelist.eks.json")["items"][0])
    assert dict((str(r), via) for r, via in node.refs) == {
        "host:duckboat-01": "node name",
        "host:ip-10-9-150-105.ec2.internal": "address Hostname",
        "ip:10.9.150.105": "address InternalIP",
        "instance:i-03dc801fd988ab620": "providerID aws",
    }
    assert (node.taints[0].key, node.taints[0].effect) == ("type", "NoSchedule")


def test_redacted_addresses_are_not_names() -> None:
    nodes = [parse_node(n) for n in load("troubleshoot.nodelist.digitalocean-kurl.json")["items"]]
    every = {str(r) for n in nodes for r, _ in n.refs}
    assert not any("hidden" in r or "*" in r for r in every)
    assert "instance:219734582" in every


@pytest.mark.parametrize(
    ("provider_id", "provider", "instance"),
    [
        ("aws:///us-east-1a/i-03dc801fd988ab620", "aws", "i-03dc801fd988ab620"),
        (
            "gce://my-gke-project/us-central1-c/gke-my-cluster-default-pool-128bc25d-9c94",
            "gce",
            "gke-my-cluster-default-pool-128bc25d-9c94",
        ),
        (
            "azure:///subscriptions/1234/resourceGroups/MC_rg_aks/providers/Microsoft.Compute/"
            "virtualMachines/aks-agent-0",
            "azure",
            "/subscriptions/1234/resourcegroups/mc_rg_aks/providers/microsoft.compute/"
            "virtualmachines/aks-agent-0",
        ),
        (
            "azure:///subscriptions/1234/resourceGroups/mc_rg/providers/Microsoft.Compute/"
            "virtualMachineScaleSets/aks-nodepool1-123-vmss/virtualMachines/3",
            "azure",
            "/subscriptions/1234/resourcegroups/mc_rg/providers/microsoft.compute/"
            "virtualmachinescalesets/aks-nodepool1-123-vmss/virtualmachines/3",
        ),
        ("digitalocean://219734582", "digitalocean", "219734582"),
        ("kind://docker/attack-chain-6/attack-chain-6-control-plane", "kind", None),
        ("vsphere://4212f2c1-aaaa", "vsphere", None),
    ],
)
def test_provider_ids(provider_id: str, provider: str, instance: str | None) -> None:
    ident = parse_provider_id(provider_id)
    assert (ident.provider, ident.instance) == (provider, instance)


def test_kind_node_has_no_instance_but_keeps_its_names() -> None:
    node = parse_node(load("regolibrary.node.kind-providerid.json"))
    kinds = {r.kind for r, _ in node.refs}
    assert AssetKind.INSTANCE not in kinds
    assert "host:attack-chain-6-control-plane" in refs_of(node)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
PATHS = [
    ("metadata",),
    ("metadata", "uid"),
    ("metadata", "ownerReferences"),
    ("spec",),
    ("spec", "nodeName"),
    ("spec", "tolerations"),
    ("spec", "affinity"),
    ("status",),
    ("status", "containerStatuses"),
    ("status", "addresses"),
    ("spec", "taints"),
    ("metadata", "labels"),
    ("spec", "providerID"),
]


def _put(obj: Any, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        if not isinstance(obj.get(key), dict):
            obj[key] = {}
        obj = obj[key]
    obj[path[-1]] = value


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["pod", "node", "deployment"]),
    st.lists(st.tuples(st.sampled_from(PATHS), JSON), min_size=1, max_size=4),
)
def test_garbage_in_an_object_is_skipped_never_raised(
    kind: str, damage: list[tuple[tuple[str, ...], Any]]
) -> None:
    source = {
        "pod": "k9s.pod.gke-node.replicaset-owned.json",
        "node": "k9s.node.minikube.json",
        "deployment": "k9s.deployment.json",
    }[kind]
    good = load(source)
    bad = copy.deepcopy(good)
    for path, value in damage:
        _put(bad, path, value)
    parsed, malformed = parse_all(kind, [bad, good])
    assert len(parsed) + len(malformed) == 2
    assert good_record_kept(parsed, good)


def good_record_kept(parsed: list[Any], good: dict[str, Any]) -> bool:
    return any(r.uid == good["metadata"]["uid"] for r in parsed)
