"""The fleet the path-parity suite asks about: one cluster, one set of platform exports, eight
scenarios that each exercise one part of a decision's inputs.

Each scenario has its own node (labelled ``clearance.dev/scenario``) and its workload is pinned
there by a nodeSelector, so what one scenario plants touches only its own target. Vendor payloads
are the real fixtures under ``tests/fixtures`` with their identifiers rewritten to name this
fleet's hosts, pods and images (times moved to now where a decision would otherwise decay them
away). Every source is a file (``type: file`` with a platform ``format``), so a local check that
reads them now and the service that synced them see data of the same age.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).parents[1] / "fixtures"
CLUSTER = "prod-eu"
GITHUB_SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
GITHUB_ACTOR = "Codertocat"
ADMISSION_USER = "system:serviceaccount:argocd:argocd-application-controller"
SCENARIO_LABEL = "clearance.dev/scenario"


@dataclass(frozen=True)
class Scenario:
    key: str
    environment: str
    namespace: str
    workload: str  # deployment name
    image: str
    expect: str  # the verdict every path must give
    exists: bool = True  # False: only the manifest names it (a new Deployment)
    in_cluster_node: bool = True  # False: the target names no node (an unknown target)
    reason: str | None = None  # a reason code that must be among the decision's reasons

    @property
    def node(self) -> str:
        return f"node-{self.key}"

    @property
    def index(self) -> int:
        return int(self.key[1:])

    @property
    def ip(self) -> str:
        return f"10.20.0.{self.index}"

    @property
    def instance(self) -> str:
        return f"i-{self.index:017x}"

    def target(self) -> dict[str, str]:
        return {
            "environment": self.environment,
            "cluster": CLUSTER,
            "namespace": self.namespace,
            "workload": f"deployment/{self.workload}",
        }


SCENARIOS = (
    # A Falcon detection names the host by its EDR name and MAC only; Falcon's host inventory
    # joins that name to the node's EC2 instance id.
    Scenario("s1", "staging", "shop", "cart", "ghcr.io/acme/cart:3.1", "block",
             reason="rule:critical-detection-near-target"),
    # A Trivy report on the running image lists a CVE that the (mirrored) KEV catalog lists.
    Scenario("s2", "staging", "shop", "api", "ghcr.io/aquasecurity/trivy-test-images:alpine-310",
             "approve", reason="rule:known-exploited-in-image"),
    # A new Deployment, known only from its manifest, can land only on a node with a critical.
    Scenario("s3", "staging", "shop", "newapp", "ghcr.io/acme/newapp:0.1", "block",
             exists=False, reason="rule:critical-detection-near-target"),
    # GuardDuty files an EKS finding against deployment/checkout itself.
    Scenario("s4", "staging", "shop", "checkout", "ghcr.io/acme/checkout:1.8.0", "approve",
             reason="score"),
    # Three Falco events of one rule on one pod fold into one signal with count 3.
    Scenario("s5", "staging", "shop", "worker", "ghcr.io/acme/worker:2.0", "approve",
             reason="rule:repeated-runtime-events"),
    # A source whose file is two hours old, judged by production's 15 minutes.
    Scenario("s6", "production", "payments", "ledger", "ghcr.io/acme/ledger:5.2", "approve",
             reason="stance:stale"),
    # A workload the cluster does not have, asked about without a manifest.
    Scenario("s7", "staging", "shop", "ghost", "ghcr.io/acme/ghost:1.0", "approve",
             exists=False, in_cluster_node=False, reason="stance:unknown_target"),
    # A high detection on the node, waived by the policy's exception for this target.
    Scenario("s8", "staging", "shop", "legacy", "ghcr.io/acme/legacy:0.9", "proceed",
             reason="exception:EX-LEGACY-1"),
)  # fmt: skip
BY_KEY = {s.key: s for s in SCENARIOS}


def _fixture(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / path).read_text())
    return data


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the cluster ---------------------------------------------------------------------------


def _node(s: Scenario) -> dict[str, Any]:
    template = _fixture("k8s/prod-eu.cluster.json")["nodes"][0]
    node: dict[str, Any] = copy.deepcopy(template)
    meta = node["metadata"]
    meta.update(name=s.node, uid=f"node-uid-{s.key}")
    meta.pop("managedFields", None)
    meta["labels"] = dict(meta.get("labels") or {}) | {
        "kubernetes.io/hostname": s.node,
        SCENARIO_LABEL: s.key,
    }
    node["spec"] = {"providerID": f"aws:///eu-west-1a/{s.instance}"}
    node["status"]["addresses"] = [
        {"type": "InternalIP", "address": s.ip},
        {"type": "Hostname", "address": f"ip-{s.ip.replace('.', '-')}.eu-west-1.compute.internal"},
    ]
    return node


def manifest(s: Scenario) -> dict[str, Any]:
    """The Deployment as a pipeline would apply it (and as admission sees it)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": s.workload, "namespace": s.namespace, "uid": f"deploy-uid-{s.key}"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": s.workload}},
            "template": {
                "metadata": {"labels": {"app": s.workload}},
                "spec": {
                    "nodeSelector": {SCENARIO_LABEL: s.key},
                    "containers": [{"name": s.workload, "image": s.image}],
                },
            },
        },
    }


def _workload_objects(s: Scenario) -> dict[str, list[dict[str, Any]]]:
    deployment = manifest(s)
    rs_uid = f"rs-uid-{s.key}"
    replicaset = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{s.workload}-5d8f9c7b6",
            "namespace": s.namespace,
            "uid": rs_uid,
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": s.workload,
                 "uid": deployment["metadata"]["uid"], "controller": True}
            ],
        },
        "spec": deployment["spec"],
    }  # fmt: skip
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(s),
            "namespace": s.namespace,
            "uid": f"pod-uid-{s.key}",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                 "name": replicaset["metadata"]["name"], "uid": rs_uid}
            ],
        },
        "spec": deployment["spec"]["template"]["spec"] | {"nodeName": s.node},
        "status": {"phase": "Running", "hostIP": s.ip, "podIP": f"192.168.{s.index}.10"},
    }  # fmt: skip
    return {"deployments": [deployment], "replicasets": [replicaset], "pods": [pod]}


def pod_name(s: Scenario) -> str:
    return f"{s.workload}-5d8f9c7b6-x{s.index}"


def cluster_objects() -> dict[str, list[dict[str, Any]]]:
    objects: dict[str, list[dict[str, Any]]] = {"nodes": []}
    for s in SCENARIOS:
        if s.in_cluster_node:
            objects["nodes"].append(_node(s))
        if s.exists:
            for plural, items in _workload_objects(s).items():
                objects.setdefault(plural, []).extend(items)
    return objects


# --- the platforms' exports ----------------------------------------------------------------


def _falcon_alerts(now: datetime) -> dict[str, Any]:
    page = _fixture("crowdstrike/alerts-combined-v1.epp.page1.json")
    alert = page["resources"][0]
    s = BY_KEY["s1"]
    alert["composite_id"] = alert["composite_id"].rsplit(":", 1)[0] + ":parity-s1"
    alert["severity_name"], alert["severity"], alert["status"] = "Critical", 90, "new"
    alert["device"] |= {
        "device_id": "parity0000000000000000000000000s1",
        "hostname": "WEB-CART-01",  # the EDR's own name for the node: no Kubernetes ref has it
        "local_ip": "172.31.99.1",
        "external_ip": "203.0.113.7",
        "mac_address": f"02-00-00-00-00-0{s.index}",
    }
    page["resources"] = [alert]
    page["meta"] = page.get("meta") or {}
    return page


def _falcon_hosts() -> dict[str, Any]:
    response = _fixture("crowdstrike/devices-entities-v2.gcp-windows.json")
    device = response["resources"][0]
    s = BY_KEY["s1"]
    device |= {
        "device_id": "parity0000000000000000000000000s1",
        "hostname": "WEB-CART-01",
        "instance_id": s.instance,  # what joins the EDR host to the node's providerID
        "service_provider": "AWS_EC2_V2",
        "local_ip": "172.31.99.1",
        "external_ip": "203.0.113.7",
        "mac_address": f"02-00-00-00-00-0{s.index}",
    }
    response["resources"] = [device]
    return response


def _trivy_report() -> dict[str, Any]:
    report: dict[str, Any] = _fixture("trivy/report.image.alpine-3.10.golden.json")
    return report


def _kev_catalog(listed: str) -> dict[str, Any]:
    catalog: dict[str, Any] = _fixture("kev/known_exploited_vulnerabilities.trimmed.json")
    template = catalog["vulnerabilities"][0]
    catalog["vulnerabilities"].append(template | {"cveID": listed})
    catalog["count"] = len(catalog["vulnerabilities"])
    return catalog


def _guardduty(now: datetime) -> dict[str, Any]:
    response = _fixture("guardduty/get-findings.eks-privileged-container.cli.json")
    finding = response["Findings"][0]
    s = BY_KEY["s4"]
    finding["Id"] = "parity-s4-finding"
    finding["Severity"] = 8  # high
    finding["CreatedAt"] = finding["UpdatedAt"] = _stamp(now - timedelta(minutes=30))
    finding["Service"] = finding["Service"] | {
        "EventFirstSeen": _stamp(now - timedelta(minutes=30)),
        "EventLastSeen": _stamp(now - timedelta(minutes=5)),
    }
    resource = finding["Resource"]
    resource["EksClusterDetails"]["Name"] = CLUSTER
    workload = resource["KubernetesDetails"]["KubernetesWorkloadDetails"]
    workload |= {"Name": s.workload, "Type": "deployments", "Namespace": s.namespace}
    # No container image: the finding reaches the workload through its workload asset alone.
    workload["Containers"] = []
    return response


def _falco_events(now: datetime) -> str:
    lines = (FIXTURES / "falco/events.syscall-k8s.falco-website.jsonl").read_text().splitlines()
    notice = json.loads(lines[1])  # "Notice A shell was spawned …": a low-severity event
    s = BY_KEY["s5"]
    events = []
    for minutes in (30, 20, 10):
        event = copy.deepcopy(notice)
        moment = now - timedelta(minutes=minutes)
        event["time"] = _stamp(moment).replace(".000000Z", ".000000000Z")
        event["output_fields"] |= {
            "k8s.ns.name": s.namespace,
            "k8s.pod.name": pod_name(s),
            "evt.time": int(moment.timestamp() * 1e9),
        }
        events.append(json.dumps(event))
    return "\n".join(events) + "\n"


def _edr_signals(now: datetime) -> str:
    """Normalized signals (the plain ``file`` format): detections on s3's and s8's nodes."""
    seen = _stamp(now - timedelta(minutes=10))

    def detection(uid: str, host: str, severity: int, title: str) -> dict[str, Any]:
        return {
            "uid": f"edr:{uid}", "source": "edr", "kind": "detection", "title": title,
            "severity": severity, "confidence": 0.9, "status": "open",
            "first_seen": seen, "last_seen": seen, "assets": [f"host:{host}"],
        }  # fmt: skip

    lines = [
        detection("newapp-node", BY_KEY["s3"].node, 5, "Reverse shell"),
        detection("legacy-1", BY_KEY["s8"].node, 4, "Suspicious scheduled task"),
    ]
    return "\n".join(json.dumps(line) for line in lines) + "\n"


# --- policy, configuration, integrations ----------------------------------------------------


def policy(now: datetime) -> dict[str, Any]:
    """The shipped policy, with the parity suite's own limits, one count rule and one
    exception."""
    shipped: dict[str, Any] = yaml.safe_load(
        (Path(__file__).parents[2] / "examples" / "policy.yaml").read_text()
    )
    shipped["environments"]["production"]["freshness"] = {"default": "15m", "inventory:k8s": "5m"}
    shipped["environments"]["staging"]["freshness"] = {"default": "1d"}
    shipped["rules"].append(
        {
            "name": "repeated-runtime-events",
            "when": 'signal.count >= 3 && proximity == "direct"',
            "verdict": "approve",
            "message": "The same runtime rule fired three or more times on the workload",
        }
    )
    s8 = BY_KEY["s8"]
    shipped["exceptions"] = [
        {
            "id": "EX-LEGACY-1",
            "finding": {"signal": "edr:legacy-1"},
            "target": s8.target(),
            "expires": _stamp(now + timedelta(days=7)).replace(".000000Z", "Z"),
            "reason": "Known scheduled task on the legacy node; replaced next sprint",
            "ticket": "SEC-4711",
            "approver": "security-lead@example.com",
        }
    ]
    return shipped


SOURCES = (
    {"name": "falcon-alerts", "type": "file", "path": "exports/falcon-alerts.json",
     "format": "falcon"},
    {"name": "falcon-hosts", "type": "file", "path": "exports/falcon-hosts.json",
     "format": "falcon"},
    {"name": "trivy", "type": "file", "path": "exports/trivy-api.json", "format": "trivy"},
    {"name": "kev-mirror", "type": "file", "path": "exports/kev.json", "format": "kev"},
    {"name": "guardduty", "type": "file", "path": "exports/guardduty.json",
     "format": "guardduty"},
    {"name": "falco", "type": "file", "path": "exports/falco.jsonl", "format": "falco",
     "cluster": CLUSTER},
    {"name": "edr", "type": "file", "path": "exports/edr.jsonl"},
    {"name": "slow-feed", "type": "file", "path": "exports/slow-feed.jsonl"},
)  # fmt: skip


@dataclass
class Fleet:
    root: Path
    now: datetime
    github_environments: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "clearance.yaml"

    def manifest_file(self, s: Scenario) -> Path:
        return self.root / "manifests" / f"{s.key}.yaml"


def write_fleet(root: Path, kubeconfig: Path) -> Fleet:
    now = datetime.now(UTC)
    exports = root / "exports"
    exports.mkdir(parents=True)
    (exports / "falcon-alerts.json").write_text(json.dumps(_falcon_alerts(now)))
    (exports / "falcon-hosts.json").write_text(json.dumps(_falcon_hosts()))
    (exports / "trivy-api.json").write_text(json.dumps(_trivy_report()))
    (exports / "kev.json").write_text(json.dumps(_kev_catalog("CVE-2019-1551")))
    (exports / "guardduty.json").write_text(json.dumps(_guardduty(now)))
    (exports / "falco.jsonl").write_text(_falco_events(now))
    (exports / "edr.jsonl").write_text(_edr_signals(now))
    slow = exports / "slow-feed.jsonl"
    slow.write_text("")
    two_hours_ago = (now - timedelta(hours=2)).timestamp()
    os.utime(slow, (two_hours_ago, two_hours_ago))
    (root / "policy.yaml").write_text(yaml.safe_dump(policy(now), sort_keys=False))
    config = {
        "policy": "policy.yaml",
        "sources": list(SOURCES),
        "inventory": {
            "name": "k8s",
            "type": "kubernetes",
            "kubeconfig": str(kubeconfig),
            "clusters": [{"name": CLUSTER}],
            "watch_timeout_seconds": 5,
        },
    }
    (root / "clearance.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "manifests").mkdir()
    fleet = Fleet(root, now)
    for s in SCENARIOS:
        fleet.manifest_file(s).write_text(yaml.safe_dump(manifest(s)))
        fleet.github_environments[f"parity-{s.key}"] = s.target()
    return fleet
