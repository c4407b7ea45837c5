"""``check --server --manifest``: a new workload judged by the service from CI, as at admission.

The cluster is the stand-in Kubernetes API server serving ``tests/fixtures/k8s/prod-eu.cluster
.json`` (nodes duckboat-01 in us-east-1a, EC2 ``i-03dc801fd988ab620``, and duckboat-02 elsewhere,
both tainted ``type=hound:NoSchedule``); a Falcon-style critical detection sits on duckboat-01's
EC2 instance. ``deployment/checkout`` does not exist yet: only its manifest says where it may run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_fleet import Result
from served import Served, clearance, serve_synced

from builders import POLICY_YAML
from standins.kube_apiserver import KubeApiServer, load_cluster

CLUSTER = Path(__file__).parents[1] / "fixtures" / "k8s" / "prod-eu.cluster.json"
TARGET = ["--env", "production", "--cluster", "prod-eu", "--namespace", "shop",
          "--workload", "deployment/checkout"]  # fmt: skip


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("k8s-fleet")
    with KubeApiServer(load_cluster(CLUSTER)) as cluster:
        cluster.write_kubeconfig(root / "kubeconfig")
        (root / "policy.yaml").write_text(POLICY_YAML)
        seen = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        detection = {
            "uid": "falcon:ldt:aid1:4295013221", "source": "falcon", "kind": "detection",
            "title": "Credential dumping from LSASS memory", "severity": 5, "confidence": 0.9,
            "status": "open", "first_seen": (seen - timedelta(minutes=5)).isoformat(),
            "last_seen": seen.isoformat(),
            "assets": ["host:EC2AMAZ-7Q3K1", "instance:i-03dc801fd988ab620"],
        }  # fmt: skip
        (root / "falcon.jsonl").write_text(json.dumps(detection) + "\n")
        config = {
            "policy": "policy.yaml",
            "sources": [{"name": "falcon", "type": "file", "path": "falcon.jsonl"}],
            "inventory": {"name": "k8s", "type": "kubernetes", "kubeconfig": "kubeconfig",
                          "clusters": [{"name": "prod-eu"}]},
        }  # fmt: skip
        (root / "clearance.yaml").write_text(yaml.safe_dump(config))
        yield root


@pytest.fixture(scope="module")
def served(root: Path) -> Iterator[Served]:
    with serve_synced(root / "clearance.yaml", root) as s:
        yield s


def manifest(root: Path, zone: str, **metadata: str) -> Path:
    """The Deployment about to be applied, scheduled by zone, tolerating the nodes' taint."""
    spec: dict[str, Any] = {
        "nodeSelector": {"topology.kubernetes.io/zone": zone},
        "tolerations": [{"key": "type", "operator": "Equal", "value": "hound",
                         "effect": "NoSchedule"}],
        "containers": [{"name": "checkout", "image": "ghcr.io/acme/checkout:2.0"}],
    }  # fmt: skip
    document = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", **metadata},
        "spec": {"selector": {"matchLabels": {"app": "checkout"}},
                 "template": {"metadata": {"labels": {"app": "checkout"}}, "spec": spec}},
    }  # fmt: skip
    path = root / f"checkout-{zone}-{len(metadata)}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def ask(served: Served, *flags: str) -> tuple[Result, dict[str, Any]]:
    done = clearance("check", *TARGET, "--format", "json", *flags, env=served.env())
    return done, (json.loads(done.out) if done.out else {})


def codes(decision: dict[str, Any]) -> set[str]:
    return {r["code"] for r in decision["reasons"]}


def test_without_a_manifest_a_new_workload_cannot_be_correlated(served: Served) -> None:
    done, decision = ask(served)
    assert done.code == 20, done.err
    assert "stance:unknown_target" in codes(decision)
    assert decision["contributors"] == []


def test_the_manifest_puts_the_critical_on_its_only_candidate_node_in_view(
    served: Served, root: Path
) -> None:
    done, decision = ask(served, "--manifest", str(manifest(root, "us-east-1a")))
    assert done.code == 20, done.err
    assert "rule:critical-detection-near-target" in codes(decision)
    assert "stance:unknown_target" not in codes(decision)
    [contributor] = decision["contributors"]
    assert contributor["signal"] == "falcon:ldt:aid1:4295013221"
    assert contributor["proximity"] == "host"
    # The local check from the same files and cluster, at the service's time, agrees.
    here = clearance(
        "check", *TARGET, "--format", "json", "--config", str(root / "clearance.yaml"),
        "--now", decision["at"], "--manifest", str(manifest(root, "us-east-1a")),
    )  # fmt: skip
    assert here.code == 20, here.err
    mine = json.loads(here.out)
    for field in ("verdict", "score", "reasons", "contributors", "notes"):
        assert mine[field] == decision[field], field


def test_a_manifest_whose_candidates_are_elsewhere_proceeds(served: Served, root: Path) -> None:
    done, decision = ask(served, "--manifest", str(manifest(root, "us-east-2d")))
    assert done.code == 0, done.err
    assert decision["verdict"] == "proceed"
    assert decision["service"]["status"] == "proceed"


def test_a_manifest_for_another_workload_is_refused_before_asking(
    served: Served, root: Path
) -> None:
    wrong = manifest(root, "us-east-1a", namespace="payments")
    done, _ = ask(served, "--manifest", str(wrong))
    assert done.code == 2
    assert "metadata.namespace 'payments'" in done.err
    listed = served.get("/v1/decisions?limit=500").json()["decisions"]
    body = {
        "environment": "production",
        "cluster": "prod-eu",
        "namespace": "shop",
        "workload": "deployment/checkout",
        "manifest": yaml.safe_load(wrong.read_text()),
    }
    refused = served.post("/v1/decisions", body)
    after = served.get("/v1/decisions?limit=500").json()["decisions"]
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.manifest"
    assert len(after) == len(listed)  # refused requests leave nothing behind
