"""Resolution from the cache (no network): the ownership chain by uid, nodes, and the gaps."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clearance.inventory.kubernetes.cache import ClusterCache
from clearance.inventory.kubernetes.candidates import read_manifest
from clearance.inventory.kubernetes.resolve import resolve_in_cluster
from clearance.model.target import Proximity, Target, UnresolvedReason

CLUSTER = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "k8s" / "prod-eu.cluster.json").read_text()
)
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
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


def cache(objects: dict[str, list[Any]] | None = None) -> ClusterCache:
    c = ClusterCache("prod-eu", lambda: T0)
    for plural, items in (objects or CLUSTER).items():
        c.replace(KIND[plural], items, "1")
    return c


def refs(c: ClusterCache, ns: str, workload: str, **kw: Any) -> dict[str, tuple[Proximity, str]]:
    result = resolve_in_cluster(c, Target.of("production", "prod-eu", ns, workload), **kw)
    return {str(ref): (p, via) for (p, ref), via in result.found.items()}


def test_deployment_resolves_through_replicaset_to_pod_and_node() -> None:
    found = refs(cache(), "icx", "deployment/icx-db")
    assert found["pod:icx/icx-db-7d4b578979-2w75j"][0] is Proximity.DIRECT
    proximity, via = found["instance:i-03dc801fd988ab620"]
    assert proximity is Proximity.HOST
    assert via == "pod icx/icx-db-7d4b578979-2w75j → node duckboat-01 → providerID aws"
    assert found["namespace:prod-eu/icx"][0] is Proximity.NAMESPACE
    assert found["cluster:prod-eu"][0] is Proximity.CLUSTER
    # The other deployment's node is not touched.
    assert "instance:i-0b7e4d2a9c1f35e86" not in found


def test_pods_are_joined_by_owner_uid_not_by_name() -> None:
    objects = copy.deepcopy(CLUSTER)
    impostor = copy.deepcopy(objects["pods"][0])
    impostor["metadata"].update(name="icx-db-7d4b578979-fake1", uid="impostor-uid")
    impostor["metadata"]["ownerReferences"][0]["uid"] = "some-other-replicaset"
    objects["pods"].append(impostor)
    found = refs(cache(objects), "icx", "deployment/icx-db")
    assert "pod:icx/icx-db-7d4b578979-fake1" not in found
    assert "pod:icx/icx-db-7d4b578979-2w75j" in found


def test_cronjob_resolves_through_its_jobs() -> None:
    objects = copy.deepcopy(CLUSTER)
    objects["cronjobs"] = [
        {
            "metadata": {"name": "report", "namespace": "icx", "uid": "cj-1"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}},
        }
    ]
    objects["jobs"] = [
        {
            "metadata": {
                "name": "report-1",
                "namespace": "icx",
                "uid": "job-1",
                "ownerReferences": [{"kind": "CronJob", "uid": "cj-1", "controller": True}],
            },
            "spec": {"template": {"spec": {}}},
        }
    ]
    pod = copy.deepcopy(objects["pods"][1])
    pod["metadata"].update(name="report-1-abcde", namespace="icx", uid="pod-report")
    pod["metadata"]["ownerReferences"] = [{"kind": "Job", "uid": "job-1", "controller": True}]
    objects["pods"].append(pod)
    found = refs(cache(objects), "icx", "cronjob/report")
    assert "pod:icx/report-1-abcde" in found
    assert "host:duckboat-02" in found


def test_unknown_workload_is_target_not_found_naming_namespace_and_cluster() -> None:
    result = resolve_in_cluster(cache(), Target.of("production", "prod-eu", "icx", "deployment/x"))
    assert result.unresolved == [
        (
            UnresolvedReason.TARGET_NOT_FOUND,
            "deployment/x not found in namespace 'icx' of cluster 'prod-eu'",
        )
    ]
    assert result.found == {}


def test_pods_on_a_node_missing_from_the_cache_are_nodes_unknown() -> None:
    objects = copy.deepcopy(CLUSTER)
    objects["nodes"] = [n for n in objects["nodes"] if n["metadata"]["name"] != "duckboat-01"]
    result = resolve_in_cluster(
        cache(objects), Target.of("production", "prod-eu", "icx", "deployment/icx-db")
    )
    assert [r for r, _ in result.unresolved] == [UnresolvedReason.NODES_UNKNOWN]
    assert "duckboat-01" in result.unresolved[0][1]
    # What the pod says about its node is kept.
    assert any(str(ref) == "host:duckboat-01" for _, ref in result.found)


def test_workload_without_pods_uses_its_template_and_says_so() -> None:
    result = resolve_in_cluster(
        cache(), Target.of("production", "prod-eu", "default", "statefulset/nginx-sts")
    )
    # Both EKS nodes carry type=hound:NoSchedule, which the template does not tolerate.
    assert [r for r, _ in result.unresolved] == [UnresolvedReason.NODES_UNKNOWN]
    assert any("has no pods" in n for n in result.notes)
    assert any("autoscaler" in n for n in result.notes)


def test_new_deployment_manifest_gives_candidate_nodes() -> None:
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "template": {
                "spec": {
                    "nodeSelector": {"topology.kubernetes.io/zone": "us-east-2d"},
                    "tolerations": [{"key": "type", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{"name": "app", "image": "ghcr.io/acme/checkout:2.0"}],
                }
            }
        },
    }
    target = Target.of(
        "production", "prod-eu", "shop", "deployment/checkout", ["ghcr.io/acme/checkout:2.0"]
    )
    result = resolve_in_cluster(cache(), target, read_manifest(manifest))
    found = {str(ref): (p, via) for (p, ref), via in result.found.items()}
    assert result.unresolved == []
    assert found["instance:i-0b7e4d2a9c1f35e86"][1].startswith(
        "candidate: new deployment/checkout manifest → node duckboat-02"
    )
    assert "host:duckboat-01" not in found
    assert found["image:ghcr.io/acme/checkout:2.0"][0] is Proximity.DIRECT
    assert any("superset" in n for n in result.notes)


def test_changing_workload_gets_current_nodes_and_candidates() -> None:
    manifest = copy.deepcopy(CLUSTER["deployments"][0])
    manifest["spec"]["template"]["spec"]["tolerations"] = [{"operator": "Exists"}]
    result = resolve_in_cluster(
        cache(),
        Target.of("production", "prod-eu", "icx", "deployment/icx-db"),
        read_manifest(manifest),
    )
    vias = {str(ref): via for (_, ref), via in result.found.items()}
    assert vias["host:duckboat-01"].startswith("pod icx/")  # running there: the closer path wins
    assert vias["host:duckboat-02"].startswith("candidate: deployment/icx-db manifest")


def test_cache_applies_watch_events_and_counts_malformed_objects() -> None:
    c = cache()
    pod = copy.deepcopy(CLUSTER["pods"][0])
    c.apply("pod", "DELETED", pod)
    assert c.owned_pods(pod["metadata"]["ownerReferences"][0]["uid"]) == ()
    broken = copy.deepcopy(pod)
    del broken["spec"]
    c.apply("pod", "ADDED", broken)
    assert c.skipped == 1
    assert "pod icx/icx-db-7d4b578979-2w75j" in c.malformed()[0]
    c.apply("pod", "MODIFIED", pod)  # repaired: counted no more
    assert c.skipped == 0
    assert len(c.owned_pods(pod["metadata"]["ownerReferences"][0]["uid"])) == 1


def test_a_malformed_object_in_a_list_does_not_cost_its_neighbours() -> None:
    objects = copy.deepcopy(CLUSTER)
    objects["pods"].insert(0, {"metadata": {"name": "no-uid", "namespace": "icx"}})
    objects["pods"].insert(1, "not an object")
    c = cache(objects)
    assert c.skipped == 2
    assert c.counts()["pod"] == len(CLUSTER["pods"])
