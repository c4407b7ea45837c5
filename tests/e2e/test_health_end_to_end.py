"""Stable enough to change: the target's health, through a real ``clearance serve`` with the
shipped policy (examples/policy.yaml).

The service watches a Kubernetes API stand-in (tests/fixtures/k8s/prod-eu.cluster.json, one pod
put into CrashLoopBackOff, healthy copies of a workload in namespaces ``payments``, ``orders``
and ``catalog``) and syncs
an Alertmanager, a Prometheus and a Datadog stand-in, each serving its real wire format.
Asked over HTTP as pipelines ask it, in production:

* the crash-looping deployment requires approval, naming the pod;
* an alert firing on the target's namespace requires approval, with its link;
* a Datadog monitor in Alert for the service requires approval, with its link;
* an error budget burning at the fast-burn rate blocks (the freeze rule);
* a healthy target in the same cluster proceeds, untouched by any of it;

and through the CLI, an Alertmanager that cannot be reached is ``source_down``, which blocks
production: never silently healthy.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from served import Served, clearance, free_port, serve

from standins import alertmanager, datadog, prometheus
from standins.kube_apiserver import FakeCluster, KubeApiServer

FIXTURES = Path(__file__).parents[1] / "fixtures"
EXAMPLES = Path(__file__).parents[2] / "examples"
BURN = 'slo:sli_error:ratio_rate1h{sloth_id="kotsadm-api-availability"} / 0.001'


def _cluster() -> dict[str, Any]:
    objects: dict[str, Any] = json.loads((FIXTURES / "k8s" / "prod-eu.cluster.json").read_text())
    crash = json.loads((FIXTURES / "k8s" / "status.crashloopbackoff.json").read_text())
    now = datetime.now(UTC)
    for condition in crash["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition["lastTransitionTime"] = (now - timedelta(minutes=20)).isoformat()
    for pod in objects["pods"]:
        if pod["metadata"]["name"] == "icx-db-7d4b578979-2w75j":
            pod["status"] = crash
    # Workloads of their own, healthy: kotsadm-api's chain copied into namespaces payments
    # (nothing wrong there), orders (where an alert fires) and catalog (a Datadog monitor's).
    for prefix, namespace in (("c10e", "payments"), ("0bde", "orders"), ("ca7a", "catalog")):
        for plural, name in (
            ("deployments", "kotsadm-api"),
            ("replicasets", "kotsadm-api-f98ff7d75"),
            ("pods", "kotsadm-api-f98ff7d75-nqhp8"),
        ):
            original = next(o for o in objects[plural] if o["metadata"]["name"] == name)
            clone = copy.deepcopy(original)
            clone["metadata"]["namespace"] = namespace
            clone["metadata"]["uid"] = prefix + clone["metadata"]["uid"][4:]
            for owner in clone["metadata"].get("ownerReferences", []):
                owner["uid"] = prefix + owner["uid"][4:]
            objects[plural].append(clone)
    return objects


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[dict[str, Any]]:
    now = datetime.now(UTC) - timedelta(minutes=3)
    alerts = alertmanager.AlertmanagerState(password=None)
    alerts.alerts.append(
        alertmanager.kube_alert(
            {"alertname": "KubeQuotaFullyUsed", "namespace": "orders", "severity": "warning"},
            fingerprint="4d2c81a7f3e9b056", moment=now,
            summary="Namespace quota is fully used.",
        )
    )  # fmt: skip
    metrics = prometheus.PrometheusState(password=None, evaluated_at=None)
    metrics.burn(BURN, "16.2")
    monitors = datadog.DatadogState()
    monitors.monitors.append(
        datadog.monitor(
            48061122, "catalog 5xx rate", "Alert", ["service:catalog", "env:prod"], priority=2
        )
    )
    with (
        KubeApiServer(FakeCluster(_cluster())) as kube,
        alertmanager.serve(alerts) as am_url,
        prometheus.serve(metrics) as prom_url,
        datadog.serve(monitors) as dd_url,
    ):
        yield {"kube": kube, "alertmanager": am_url, "prometheus": prom_url, "datadog": dd_url}


def _config(root: Path, urls: dict[str, Any], alertmanager_url: str) -> Path:
    urls["kube"].write_kubeconfig(root / "kubeconfig")
    (root / "policy.yaml").write_text((EXAMPLES / "policy.yaml").read_text())
    config = {
        "policy": "policy.yaml",
        "inventory": {"name": "k8s", "type": "kubernetes", "kubeconfig": "kubeconfig",
                      "clusters": [{"name": "prod-eu"}]},
        "sources": [
            {"name": "alertmanager", "type": "alertmanager", "base_url": alertmanager_url,
             "cluster": "prod-eu", "max_retries": 0},
            {"name": "prometheus", "type": "prometheus", "base_url": urls["prometheus"],
             "slos": [{"name": "kotsadm-api-availability", "query": BURN,
                       "assets": ["workload:prod-eu/default/deployment/kotsadm-api"]}]},
            {"name": "datadog", "type": "datadog", "base_url": urls["datadog"],
             "api_key": "${DD_API_KEY}", "app_key": "${DD_APP_KEY}",
             "targets": [{"tags": ["service:catalog", "env:prod"],
                          "assets": ["workload:prod-eu/catalog/deployment/kotsadm-api"]}]},
        ],
    }  # fmt: skip
    (root / "clearance.yaml").write_text(yaml.safe_dump(config))
    return root / "clearance.yaml"


KEYS = {"DD_API_KEY": datadog.API_KEY, "DD_APP_KEY": datadog.APP_KEY}


@pytest.fixture(scope="module")
def service(
    stand_ins: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("health")
    config = _config(root, stand_ins, stand_ins["alertmanager"])
    with serve(config, f"sqlite:///{root / 'health.db'}", environ=KEYS) as served:
        wanted = {"alertmanager", "prometheus", "datadog"}
        for _ in range(600):
            states = served.get("/v1/sources").json()["sources"]
            if wanted <= {s["name"] for s in states if s["last_success"]}:
                break
            time.sleep(0.05)
        yield served


def _decide(service: Served, namespace: str, workload: str) -> dict[str, Any]:
    body = {"environment": "production", "cluster": "prod-eu", "namespace": namespace,
            "workload": workload}  # fmt: skip
    decision: dict[str, Any] = service.decide(body)["decision"]
    return decision


def _reason(decision: dict[str, Any], code: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in decision["reasons"] if r["code"] == code]
    assert found, [r["code"] for r in decision["reasons"]]
    return found[0]


def test_a_crash_looping_deployment_requires_approval_naming_the_pod(service: Served) -> None:
    decision = _decide(service, "icx", "deployment/icx-db")
    assert decision["verdict"] == "approve", decision["reasons"]
    reason = _reason(decision, "stance:unhealthy_target")
    assert (
        "CrashLoopBackOff: pod icx/icx-db-7d4b578979-2w75j in cluster prod-eu" in reason["message"]
    )
    assert "requires approval" in reason["message"]


def test_an_alert_firing_on_the_namespace_requires_approval_with_its_link(
    service: Served,
) -> None:
    decision = _decide(service, "orders", "deployment/kotsadm-api")
    assert decision["verdict"] == "approve", decision["reasons"]
    message = _reason(decision, "stance:unhealthy_target")["message"]
    assert "KubeQuotaFullyUsed: Namespace quota is fully used." in message
    assert "<http://prometheus.monitoring:9090/graph?g0.expr=" in message


def test_a_datadog_monitor_in_alert_for_the_service_requires_approval(service: Served) -> None:
    decision = _decide(service, "catalog", "deployment/kotsadm-api")
    assert decision["verdict"] == "approve", decision["reasons"]
    message = _reason(decision, "stance:unhealthy_target")["message"]
    assert "catalog 5xx rate (Alert)" in message
    assert "/monitors/48061122>" in message


def test_a_fast_burning_error_budget_freezes_production(service: Served) -> None:
    decision = _decide(service, "default", "deployment/kotsadm-api")
    assert decision["verdict"] == "block", decision["reasons"]
    _reason(decision, "rule:error-budget-fast-burn")
    assert "burning 16.2x" in _reason(decision, "stance:unhealthy_target")["message"]


def test_a_healthy_target_is_not_affected(service: Served) -> None:
    decision = _decide(service, "payments", "deployment/kotsadm-api")
    assert decision["verdict"] == "proceed", decision["reasons"]
    assert not [r for r in decision["reasons"] if "unhealthy" in r["code"]]
    assert decision["contributors"] == []


def test_an_unreachable_alertmanager_is_source_down_and_blocks(
    stand_ins: dict[str, Any], tmp_path: Path
) -> None:
    config = _config(tmp_path, stand_ins, f"http://127.0.0.1:{free_port()}")
    result = clearance(
        "check", "--config", str(config), "--env", "production", "--cluster", "prod-eu",
        "--namespace", "payments", "--workload", "deployment/kotsadm-api", "--format", "json",
        env=KEYS,
    )  # fmt: skip
    assert result.code == 20, result.err
    decision = json.loads(result.out)
    decision = decision.get("decision", decision)
    down = _reason(decision, "stance:source_down")
    assert "Source 'alertmanager' is down" in down["message"]
