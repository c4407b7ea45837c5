"""The Kubernetes inventory against the stand-in API server: watch, 410, 401, 403, outages."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearance.errors import ConfigError
from clearance.inventory.kubernetes.inventory import KubernetesInventory, KubernetesInventoryConfig
from clearance.model.target import Exposure, Target, UnresolvedReason
from closing import closed_after_test
from standins.kube_apiserver import KubeApiServer, load_cluster

FIXTURES = Path(__file__).parents[1] / "fixtures" / "k8s"
CLUSTER = FIXTURES / "prod-eu.cluster.json"
ICX_DB = Target.of("production", "prod-eu", "icx", "deployment/icx-db")
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def build(
    tmp_path: Path, kubeconfig: Path, clusters: list[dict[str, Any]] | None = None, **kw: Any
) -> KubernetesInventory:
    config = KubernetesInventoryConfig.model_validate(
        {
            "kubeconfig": str(kubeconfig),
            "clusters": clusters or [{"name": "prod-eu"}],
            "watch_timeout_seconds": 1,  # quiet watches re-open quickly, so stop() is prompt
            **kw,
        }
    )
    return closed_after_test(KubernetesInventory.create("k8s", config, base_dir=tmp_path))


@pytest.fixture
def server() -> Iterator[KubeApiServer]:
    with KubeApiServer(load_cluster(CLUSTER)) as srv:
        yield srv


def refs(exposure: Exposure) -> set[str]:
    return {str(a.ref) for a in exposure.assets}


def eventually(check: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for the watch to deliver; the assertion is on state, never on time."""
    done = threading.Event()
    for _ in range(400):
        if check():
            return
        done.wait(0.025)
    pytest.fail(f"never happened: {what}")


def pod_on(node: str, name: str, uid: str) -> dict[str, Any]:
    cluster = json.loads(CLUSTER.read_text())
    pod: dict[str, Any] = copy.deepcopy(cluster["pods"][0])
    pod["metadata"].update(name=name, uid=uid)
    pod["spec"]["nodeName"] = node
    pod["status"]["containerStatuses"][0]["containerID"] = "containerd://" + uid.ljust(64, "0")
    return pod


def test_watch_keeps_the_cache_current(tmp_path: Path, server: KubeApiServer) -> None:
    inventory = build(tmp_path, server.write_kubeconfig(tmp_path / "kubeconfig"))
    inventory.start()
    try:
        assert "host:duckboat-02" not in refs(inventory.resolve(ICX_DB))
        new = pod_on("duckboat-02", "icx-db-7d4b578979-zzzzz", "abcdef12")
        server.cluster.add("pods", new)
        eventually(lambda: "host:duckboat-02" in refs(inventory.resolve(ICX_DB)), "pod added")
        server.cluster.delete("pods", new)
        eventually(lambda: "host:duckboat-02" not in refs(inventory.resolve(ICX_DB)), "pod gone")
        assert server.cluster.list_calls["pods"] == 1  # events, not re-lists
    finally:
        inventory.stop()


def test_a_watched_cache_stays_fresh_however_long_it_runs(
    tmp_path: Path, server: KubeApiServer
) -> None:
    """The watches re-open every second: a cache kept current is fresh as of any decision's now,
    even long after start-up, and an optional CRD the cluster lacks (Argo Rollouts here) is not
    an age that grows; a watch that fails makes the cache as old as when it last heard."""
    clock = [T0]
    built = build(tmp_path, server.write_kubeconfig(tmp_path / "kubeconfig"))
    inventory = closed_after_test(
        KubernetesInventory("k8s", built._connect, clock=lambda: clock[0], watch_timeout_seconds=1)
    )
    inventory.start()
    try:
        cache = inventory.caches["prod-eu"]
        eventually(lambda: cache.state["rollout"].absent, "the missing CRD seen as absent")
        eventually(lambda: all(s.synced for s in cache.state.values()), "every resource listed")
        later = T0 + timedelta(hours=6)
        clock[0] = later  # every event and re-opened watch from now on is heard "later"
        eventually(lambda: cache.fresh_as_of() == later, "every watch re-opened")
        assert inventory.health(later + timedelta(seconds=5)).last_success == later + timedelta(
            seconds=5
        )
        server.cluster.tokens.clear()  # the credential is revoked: the watches fail
        eventually(lambda: inventory.health(later).last_error is not None, "failure seen")
        clock[0] = later + timedelta(hours=1)
        assert inventory.health(later + timedelta(hours=1)).last_success == later
    finally:
        inventory.stop()


def test_410_gone_makes_the_reflector_relist(tmp_path: Path, server: KubeApiServer) -> None:
    inventory = build(tmp_path, server.write_kubeconfig(tmp_path / "kubeconfig"))
    inventory.start()
    try:
        inventory.resolve(ICX_DB)
        server.cluster.compact()  # open watches now get an ERROR event with a 410 Status
        server.cluster.add("pods", pod_on("duckboat-02", "icx-db-7d4b578979-yyyyy", "abcdef34"))
        eventually(lambda: "host:duckboat-02" in refs(inventory.resolve(ICX_DB)), "relisted")
        assert server.cluster.list_calls["pods"] >= 2
        assert any(r.relists for r in inventory.reflectors if r.resource.kind == "pod")
        assert inventory.health(T0).last_error is None
    finally:
        inventory.stop()


def test_rbac_forbidding_nodes_is_nodes_unknown_naming_the_cluster(
    tmp_path: Path, server: KubeApiServer
) -> None:
    server.cluster.forbidden.add("nodes")
    inventory = build(tmp_path, server.write_kubeconfig(tmp_path / "kubeconfig"))
    exposure = inventory.resolve(ICX_DB)
    assert "pod:icx/icx-db-7d4b578979-2w75j" in refs(exposure)  # what is known is kept
    [(reason, detail)] = exposure.unresolved
    assert reason is UnresolvedReason.NODES_UNKNOWN
    assert "prod-eu" in detail
    assert "forbidden" in detail
    health = inventory.health(T0)
    assert health.last_error is not None
    assert 'cannot list resource "nodes"' in health.last_error


def test_rbac_forbidding_pods_is_inventory_unavailable(
    tmp_path: Path, server: KubeApiServer
) -> None:
    server.cluster.forbidden.add("pods")
    inventory = build(tmp_path, server.write_kubeconfig(tmp_path / "kubeconfig"))
    exposure = inventory.resolve(ICX_DB)
    assert exposure.assets == ()
    [(reason, detail)] = exposure.unresolved
    assert reason is UnresolvedReason.INVENTORY_UNAVAILABLE
    assert "cluster 'prod-eu'" in detail
    assert "RBAC" in detail


def test_expired_credential_is_a_clear_error_not_a_crash(
    tmp_path: Path, server: KubeApiServer
) -> None:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", token="expired-token")
    inventory = build(tmp_path, kubeconfig)
    exposure = inventory.resolve(ICX_DB)
    [(reason, detail)] = exposure.unresolved
    assert reason is UnresolvedReason.INVENTORY_UNAVAILABLE
    assert "cluster 'prod-eu'" in detail
    assert "HTTP 401" in detail
    assert "expired" in detail
    assert "expired-token" not in detail  # never the secret
    health = inventory.health(T0)
    assert health.last_success is None
    assert health.last_error is not None


def test_unreachable_cluster_is_inventory_unavailable(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "prod-eu", "cluster": {"server": "http://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "prod-eu", "context": {"cluster": "prod-eu", "user": "u"}}],
            }
        )
    )
    inventory = build(tmp_path, kubeconfig, timeout_seconds=2)
    exposure = inventory.resolve(ICX_DB)
    [(reason, detail)] = exposure.unresolved
    assert reason is UnresolvedReason.INVENTORY_UNAVAILABLE
    assert "cluster 'prod-eu'" in detail
    assert "ConnectError" in detail


def test_missing_context_fails_at_start_up_naming_the_cluster(
    tmp_path: Path, server: KubeApiServer
) -> None:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    with pytest.raises(ConfigError, match="cluster 'prod-us'"):
        build(tmp_path, kubeconfig, clusters=[{"name": "prod-us"}])


def test_several_clusters_each_from_its_own_context(tmp_path: Path, server: KubeApiServer) -> None:
    other = load_cluster(CLUSTER)
    for uid in list(other.store["pods"]):
        obj, _ = other.store["pods"][uid]
        if obj["metadata"]["namespace"] == "icx":
            other.delete("pods", obj)
    with KubeApiServer(other) as second:
        second.write_kubeconfig(tmp_path / "us.kubeconfig", {"eks-us": "prod-us"})
        inventory = build(
            tmp_path,
            server.write_kubeconfig(tmp_path / "kubeconfig"),
            clusters=[
                {"name": "prod-eu"},
                {"name": "prod-us", "context": "eks-us", "kubeconfig": "us.kubeconfig"},
            ],
        )
        eu = inventory.resolve(ICX_DB)
        us = inventory.resolve(Target.of("production", "prod-us", "icx", "deployment/icx-db"))
        assert "host:duckboat-01" in refs(eu)
        assert "cluster:prod-us" in refs(us)
        # In prod-us the deployment has no pods: its template decides, not prod-eu's pods.
        assert "pod:icx/icx-db-7d4b578979-2w75j" not in refs(us)


def test_argo_rollout_resolves_when_its_crd_is_installed(
    tmp_path: Path, server: KubeApiServer
) -> None:
    cluster = server.cluster
    cluster.rollouts_installed = True
    cluster.add(
        "rollouts",
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "icx", "uid": "ro-1"},
            "spec": {"template": {"spec": {}}},
        },
    )
    cluster.add(
        "replicasets",
        {
            "metadata": {
                "name": "web-6b7c",
                "namespace": "icx",
                "uid": "rs-ro",
                "ownerReferences": [
                    {"kind": "Rollout", "name": "web", "uid": "ro-1", "controller": True}
                ],
            },
            "spec": {"template": {"spec": {}}},
        },
    )
    pod = pod_on("duckboat-02", "web-6b7c-abcde", "abcdef56")
    pod["metadata"]["ownerReferences"] = [
        {"kind": "ReplicaSet", "uid": "rs-ro", "controller": True}
    ]
    cluster.add("pods", pod)
    inventory = build(tmp_path, server.write_kubeconfig(tmp_path / "kubeconfig"))
    exposure = inventory.resolve(Target.of("production", "prod-eu", "icx", "rollout/web"))
    assert exposure.unresolved == ()
    assert "instance:i-0b7e4d2a9c1f35e86" in refs(exposure)


def test_without_the_rollouts_crd_other_workloads_are_unaffected(
    tmp_path: Path, server: KubeApiServer
) -> None:
    inventory = build(tmp_path, server.write_kubeconfig(tmp_path / "kubeconfig"))
    assert inventory.resolve(ICX_DB).unresolved == ()
    assert inventory.health(T0).last_error is None
    missing = inventory.resolve(Target.of("production", "prod-eu", "icx", "rollout/web"))
    assert [r for r, _ in missing.unresolved] == [UnresolvedReason.TARGET_NOT_FOUND]


def test_malformed_object_served_is_skipped_and_counted(
    tmp_path: Path, server: KubeApiServer
) -> None:
    broken = pod_on("duckboat-01", "broken-pod", "abcdef78")
    broken["status"]["containerStatuses"] = [{"name": "x", "containerID": "docker://not-hex"}]
    server.cluster.add("pods", broken)
    inventory = build(tmp_path, server.write_kubeconfig(tmp_path / "kubeconfig"))
    assert inventory.resolve(ICX_DB).unresolved == ()
    assert inventory.health(T0).skipped == 1


def test_a_cache_listed_for_this_check_is_fresh_as_of_the_decisions_time(
    tmp_path: Path, server: KubeApiServer
) -> None:
    """One clock: health is judged at the decision's ``now``, not stamped by the wall clock, so
    two checks with the same ``--now`` hash the same inputs."""
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    built = build(tmp_path, kubeconfig)
    inventory = closed_after_test(KubernetesInventory("k8s", built._connect, clock=lambda: T0))
    inventory.resolve(ICX_DB)
    later = T0 + timedelta(days=3)
    health = inventory.health(later)
    assert health.name == "inventory:k8s"
    assert health.last_success == later
    assert inventory.health(later) == health


def test_one_shot_resolution_lists_only_the_target_namespace_and_nodes(
    tmp_path: Path, server: KubeApiServer
) -> None:
    inventory = build(tmp_path, server.write_kubeconfig(tmp_path / "kubeconfig"))
    assert inventory.resolve(ICX_DB).unresolved == ()
    assert sorted(server.cluster.lists) == [
        "/api/v1/namespaces/icx/pods",
        "/api/v1/nodes",
        "/apis/apps/v1/namespaces/icx/deployments",
        "/apis/apps/v1/namespaces/icx/replicasets",
    ]
    kotsadm = Target.of("production", "prod-eu", "default", "deployment/kotsadm-api")
    assert "host:duckboat-02" in refs(inventory.resolve(kotsadm))
    listed = len(server.cluster.lists)
    # Both namespaces stay cached: resolving either again reads nothing more.
    assert "host:duckboat-01" in refs(inventory.resolve(ICX_DB))
    assert "host:duckboat-02" in refs(inventory.resolve(kotsadm))
    assert len(server.cluster.lists) == listed


def test_failing_exec_credential_plugin_is_a_credential_error(
    tmp_path: Path, server: KubeApiServer
) -> None:
    # EKS/GKE kubeconfigs run a plugin for a token; an expired SSO session makes it fail.
    plugin = tmp_path / "expired-sso"
    plugin.write_text("#!/bin/sh\necho 'Error: the SSO session has expired' >&2\nexit 255\n")
    plugin.chmod(0o755)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "prod-eu", "cluster": {"server": server.url}}],
                "users": [
                    {
                        "name": "u",
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                "command": str(plugin),
                            }
                        },
                    }
                ],
                "contexts": [{"name": "prod-eu", "context": {"cluster": "prod-eu", "user": "u"}}],
            }
        )
    )
    inventory = build(tmp_path, kubeconfig)
    [(reason, detail)] = inventory.resolve(ICX_DB).unresolved
    assert reason is UnresolvedReason.INVENTORY_UNAVAILABLE
    assert "cluster 'prod-eu'" in detail
    assert "credential plugin failed" in detail
    assert "SSO session has expired" in detail


def test_in_cluster_config_outside_a_cluster_fails_at_start_up(tmp_path: Path) -> None:
    # A configuration mistake, not a failing cluster: `clearance` exits 2 for it, not 5.
    with pytest.raises(ConfigError, match="cluster 'local': cannot load config"):
        build(tmp_path, tmp_path / "unused", clusters=[{"name": "local", "in_cluster": True}])


def test_a_continue_token_expiring_mid_list_restarts_the_list(
    tmp_path: Path, server: KubeApiServer
) -> None:
    from clearance.inventory.kubernetes.cache import BY_KIND, ClusterCache
    from clearance.inventory.kubernetes.watch import list_into

    inventory = build(tmp_path, server.write_kubeconfig(tmp_path / "kubeconfig"))
    cache = ClusterCache("prod-eu", lambda: T0)
    server.cluster.compact_after_first_page = True
    assert list_into(inventory._api("prod-eu"), cache, BY_KIND["pod"], page_size=3)
    assert cache.counts()["pod"] == len(json.loads(CLUSTER.read_text())["pods"])
    assert cache.errors() == []
    assert server.cluster.lists.count("/api/v1/pods") == 2


def test_a_cluster_lost_after_sync_keeps_serving_the_cache_and_says_so(
    tmp_path: Path, server: KubeApiServer
) -> None:
    inventory = build(tmp_path, server.write_kubeconfig(tmp_path / "kubeconfig"))
    inventory.start()
    try:
        before = inventory.resolve(ICX_DB)
        assert inventory.health(T0).last_error is None
        server.cluster.tokens.clear()  # the credential is revoked...
        server.cluster.compact()  # ...and the watches must re-list: 401
        eventually(lambda: inventory.health(T0).last_error is not None, "error surfaced")
        health = inventory.health(T0)
        assert health.last_error is not None
        assert "HTTP 401" in health.last_error
        assert health.last_error_at is not None
        assert health.last_success is not None
        assert health.last_error_at >= health.last_success
        # Stale beats nothing: the last good objects still resolve; the stale/source_down
        # stances judge their age through health.
        assert inventory.resolve(ICX_DB) == before
    finally:
        inventory.stop()
