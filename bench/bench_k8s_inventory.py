"""Benchmark: the Kubernetes inventory on a synthetic cluster of 5,000 nodes and 100,000 pods.

Issue 5 (results in docs/benchmarks.md). The stand-in API server (``tests/standins/
kube_apiserver.py``) runs in its own process, serving objects shaped like the real fixtures in
``tests/fixtures/k8s`` (EKS nodes with providerIDs, RS-owned pods with docker IDs): 10,000
Deployments, one ReplicaSet each, 10 pods each, spread over the nodes. Measured in this process:

0. **one-shot check**: a fresh inventory resolving one target without a watch (it lists the
   target's namespace and the nodes), as ``clearance check`` in a pipeline does;
1. **initial list**: wall time to list every resource (500 per page, as client-go does) into the
   cache, and the peak resident memory (``ru_maxrss``) before and after;
2. **warm-cache resolution**: ``resolve`` of random Deployments, p50/p99/max over many calls, with
   and without a host identity graph holding one EDR record per node (target: p99 < 1 ms).

    .venv/bin/python bench/bench_k8s_inventory.py
    .venv/bin/python bench/bench_k8s_inventory.py --nodes 500 --deployments 1000   # quick
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
FIXTURES = ROOT / "tests" / "fixtures" / "k8s"
PODS_PER_DEPLOYMENT = 10


def synthetic_cluster(nodes: int, deployments: int) -> dict[str, list[dict[str, Any]]]:
    """Objects cloned from the real fixtures with unique names, uids, ids and addresses."""
    cluster = json.loads((FIXTURES / "prod-eu.cluster.json").read_text())
    node_t, dep_t = cluster["nodes"][0], cluster["deployments"][0]
    rs_t, pod_t = cluster["replicasets"][0], cluster["pods"][0]
    out: dict[str, list[dict[str, Any]]] = {
        "nodes": [],
        "deployments": [],
        "replicasets": [],
        "pods": [],
    }
    for i in range(nodes):
        n = copy.deepcopy(node_t)
        ip = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        host = f"ip-{ip.replace('.', '-')}.ec2.internal"
        n["metadata"].update(name=f"node-{i:05d}", uid=f"node-uid-{i}")
        n["metadata"]["labels"]["kubernetes.io/hostname"] = f"node-{i:05d}"
        n["spec"]["providerID"] = f"aws:///us-east-1a/i-{i:017x}"
        n["status"]["addresses"] = [
            {"type": "InternalIP", "address": ip},
            {"type": "Hostname", "address": host},
            {"type": "InternalDNS", "address": host},
        ]
        out["nodes"].append(n)
    for d in range(deployments):
        ns = f"team-{d % 200:03d}"
        dep = copy.deepcopy(dep_t)
        dep["metadata"].update(name=f"app-{d:05d}", namespace=ns, uid=f"dep-uid-{d}")
        rs = copy.deepcopy(rs_t)
        rs["metadata"].update(name=f"app-{d:05d}-7d4b578979", namespace=ns, uid=f"rs-uid-{d}")
        rs["metadata"]["ownerReferences"] = [
            {
                "kind": "Deployment",
                "name": f"app-{d:05d}",
                "uid": f"dep-uid-{d}",
                "controller": True,
            }
        ]
        out["deployments"].append(dep)
        out["replicasets"].append(rs)
        for p in range(PODS_PER_DEPLOYMENT):
            k = d * PODS_PER_DEPLOYMENT + p
            pod = copy.deepcopy(pod_t)
            pod["metadata"].update(
                name=f"app-{d:05d}-7d4b578979-{p:05d}", namespace=ns, uid=f"pod-uid-{k}"
            )
            pod["metadata"]["ownerReferences"] = [
                {
                    "kind": "ReplicaSet",
                    "name": rs["metadata"]["name"],
                    "uid": f"rs-uid-{d}",
                    "controller": True,
                }
            ]
            pod["spec"]["nodeName"] = f"node-{(k * 7919) % nodes:05d}"
            pod["status"]["containerStatuses"][0]["containerID"] = f"docker://{k:064x}"
            pod["status"]["containerStatuses"][0]["imageID"] = (
                f"docker-pullable://k8s.gcr.io/nginx-slim@sha256:{d:064x}"
            )
            out["pods"].append(pod)
    return out


def serve(nodes: int, deployments: int) -> None:
    """Child process: build the cluster, serve it, print the URL, run until stdin closes."""
    from standins.kube_apiserver import FakeCluster, KubeApiServer

    server = KubeApiServer(FakeCluster(synthetic_cluster(nodes, deployments)))
    with server:
        print(server.url, flush=True)
        sys.stdin.read()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(url: str, nodes: int, deployments: int, resolutions: int) -> dict[str, Any]:
    from clearance.inventory.identity import IdentityGraph
    from clearance.inventory.kubernetes.api import KubeApi, load_config
    from clearance.inventory.kubernetes.inventory import KubernetesInventory
    from clearance.model.target import Target
    from standins.kube_apiserver import KubeApiServer

    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        KubeApiServer.write_kubeconfig(_AtUrl(url), kubeconfig)  # type: ignore[arg-type]
        single = load_config(
            "k8s", "prod-eu", kubeconfig=kubeconfig, context=None, in_cluster=False
        )
    inventory = KubernetesInventory(
        "k8s", {"prod-eu": lambda: KubeApi.connect("k8s", "prod-eu", single, timeout=60)}
    )
    # A one-shot `clearance check`: no watch, the target's namespace and the nodes listed once.
    one_shot = KubernetesInventory(
        "k8s", {"prod-eu": lambda: KubeApi.connect("k8s", "prod-eu", single, timeout=60)}
    )
    started = time.perf_counter()
    exposure = one_shot.resolve(
        Target.of("production", "prod-eu", "team-000", "deployment/app-00000")
    )
    one_shot_seconds = time.perf_counter() - started
    assert not exposure.unresolved, exposure.unresolved
    del one_shot, exposure

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    inventory.sync("prod-eu")
    list_seconds = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counts = inventory.caches["prod-eu"].counts()
    health = inventory.health(datetime.now(UTC))
    assert health.last_error is None, health.last_error

    rng = random.Random(5)
    targets = [
        Target.of("production", "prod-eu", f"team-{d % 200:03d}", f"deployment/app-{d:05d}")
        for d in (rng.randrange(deployments) for _ in range(resolutions))
    ]

    def timings(identities: IdentityGraph | None = None) -> list[float]:
        out = []
        for target in targets:
            t0 = time.perf_counter_ns()
            exposure = inventory.resolve(target, identities=identities)
            out.append((time.perf_counter_ns() - t0) / 1e6)
            assert not exposure.unresolved, exposure.unresolved
        return out

    plain = timings()
    graph = IdentityGraph()
    for i in range(nodes):  # one EDR host record per node, as a Falcon device list gives
        ip = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        graph.add(
            {
                "host": [f"IP-{ip.replace('.', '-')}"],
                "instance": [f"i-{i:017x}"],
                "ip": [ip],
                "mac": ["02:00:" + ":".join(f"{i >> s & 255:02x}" for s in (24, 16, 8, 0))],
            }
        )
    expanded = timings(graph)
    return {
        "nodes": counts["node"],
        "pods": counts["pod"],
        "deployments": counts["deployment"],
        "replicasets": counts["replicaset"],
        "one_shot_check_resolve_seconds": round(one_shot_seconds, 3),
        "initial_list_seconds": round(list_seconds, 2),
        "peak_rss_mb_before_list": round(rss_before / 1024, 1),
        "peak_rss_mb_after_list": round(rss_after / 1024, 1),
        "resolutions": resolutions,
        "resolve_ms": _summary(plain),
        "resolve_with_identity_graph_ms": _summary(expanded),
    }


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 4),
        "p99": round(percentile(values, 0.99), 4),
        "max": round(max(values), 4),
    }


class _AtUrl:
    """Just enough of a KubeApiServer for ``write_kubeconfig``: the URL of the child's server."""

    def __init__(self, url: str) -> None:
        self.url = url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument(
        "--deployments", type=int, default=10_000, help=f"× {PODS_PER_DEPLOYMENT} pods"
    )
    parser.add_argument("--resolutions", type=int, default=20_000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.nodes, args.deployments)
        return
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--nodes",
            str(args.nodes),
            "--deployments",
            str(args.deployments),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        result = measure(url, args.nodes, args.deployments, args.resolutions)
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
