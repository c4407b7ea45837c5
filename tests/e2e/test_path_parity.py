"""One decision path: every way of asking gives the decision the one assembly computes.

Eight scenarios (``parity_fleet.SCENARIOS``: a Falcon host joined by identity, a KEV-listed CVE
pulled by sync, a manifest-only new Deployment whose only candidate node has a critical, a
workload-level GuardDuty finding, folded Falco events, a stale source, an unknown target, an
exception) are asked of a real ``clearance serve`` (synced from the fleet's sources, watching
the Kubernetes stand-in) through ``clearance check --server``, the admission webhook and the
GitHub protection rule. Each decision the service recorded is then computed again, at the time
it was recorded, by ``clearance check --database`` (the service's store) and by a plain local
``clearance check`` (the sources read now): the three must be the same decision, byte for byte
as JSON — same verdict, score, reasons, inputs digest and decision id — and each scenario's
verdict is the one it exists to show. Transports add their own wrapper, never change the
decision.

Manifests: the admission webhook always carries the object being admitted, and
``check --server --manifest`` sends the one a pipeline is about to apply, so their decisions are
compared with local checks given the same ``--manifest``; the GitHub rule and a plain
``check --server`` carry none.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from parity_fleet import (
    ADMISSION_USER,
    CLUSTER,
    GITHUB_ACTOR,
    GITHUB_SHA,
    SCENARIOS,
    SOURCES,
    Fleet,
    Scenario,
    cluster_objects,
    manifest,
    write_fleet,
)
from served import Served, clean_environment, serve

from standins._server import Loopback
from standins.github_api import GitHubApiHandler, GitHubApiState
from standins.kube_apiserver import FakeCluster, KubeApiServer

FIXTURES = Path(__file__).parents[1] / "fixtures"
WEBHOOK_SECRET = "parity-webhook-secret"
APP_ID = "Iv23liPARITY"
INSTALLATION = 7


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Served]]:
    root = tmp_path_factory.mktemp("parity")
    with KubeApiServer(FakeCluster(cluster_objects())) as cluster:
        fleet = write_fleet(root, cluster.write_kubeconfig(root / "kubeconfig"))
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        state = GitHubApiState(APP_ID, public, fleet.now, installations={INSTALLATION})
        with Loopback(GitHubApiHandler, state) as github_api:
            integrations = {
                "github": {
                    "app_id": APP_ID,
                    "private_key": private,
                    "webhook_secret": WEBHOOK_SECRET,
                    "api_url": github_api,
                    "retries": 0,
                    "environments": fleet.github_environments,
                },
                "admission": {
                    "cluster": CLUSTER,
                    "namespaces": {"shop": "staging", "payments": "production"},
                    "require_auth": True,
                },
            }
            (root / "integrations.yaml").write_text(yaml.safe_dump(integrations))
            database = f"sqlite:///{root / 'service.db'}"
            with serve(
                fleet.config, database, "--integrations", str(root / "integrations.yaml")
            ) as served:
                _wait_synced(served)
                yield fleet, served


def _wait_synced(served: Served) -> None:
    """Until the service's background sync has stored every configured source once."""
    wanted = {str(source["name"]) for source in SOURCES}
    for _ in range(600):
        states = served.get("/v1/sources").json()["sources"]
        if wanted <= {s["name"] for s in states if s["last_success"]}:
            return
        time.sleep(0.05)
    pytest.fail("the service never synced the fleet's sources")


# --- asking the service ---------------------------------------------------------------------


def _recorded(served: Served, decision_id: str) -> dict[str, Any]:
    answer = served.get(f"/v1/decisions/{decision_id}")
    assert answer.status_code == 200, answer.text
    decision: dict[str, Any] = answer.json()["decision"]
    return decision


def _newest_for(served: Served, s: Scenario, after: set[str]) -> str:
    key = f"{CLUSTER}/{s.namespace}/deployment/{s.workload}"
    for _ in range(600):
        listed = served.get(f"/v1/decisions?target={key}&limit=20").json()
        fresh = [d["id"] for d in listed["decisions"] if d["id"] not in after]
        if fresh:
            return str(fresh[0])
        time.sleep(0.05)
    pytest.fail(f"no new decision recorded for {key}")


def _known_ids(served: Served, s: Scenario) -> set[str]:
    key = f"{CLUSTER}/{s.namespace}/deployment/{s.workload}"
    return {
        d["id"] for d in served.get(f"/v1/decisions?target={key}&limit=100").json()["decisions"]
    }


def ask_check_server(served: Served, s: Scenario, *flags: str) -> str:
    before = _known_ids(served, s)
    done = served.clearance(
        "check", "--env", s.environment, "--cluster", CLUSTER, "--namespace", s.namespace,
        "--workload", f"deployment/{s.workload}", "--commit", GITHUB_SHA, "--format", "json",
        *flags,
    )  # fmt: skip
    assert done.returncode in (0, 10, 20), done.stderr
    return _newest_for(served, s, before)


def ask_check_server_with_manifest(served: Served, s: Scenario) -> str:
    """``check --server --manifest FILE``: the object a pipeline is about to apply, sent along."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"{s.key}.yaml"
        path.write_text(yaml.safe_dump(manifest(s)))
        return ask_check_server(served, s, "--manifest", str(path))


def ask_admission(served: Served, s: Scenario) -> str:
    review = json.loads(
        (FIXTURES / "admission/admissionreview.v1.deployment-create.kube-review.json").read_text()
    )
    obj = manifest(s)
    review["request"] |= {
        "uid": f"parity-{s.key}",
        "dryRun": False,
        "namespace": s.namespace,
        "name": s.workload,
        "object": obj,
        "userInfo": {"username": ADMISSION_USER, "groups": ["system:serviceaccounts"]},
    }
    before = _known_ids(served, s)
    answer = served.post("/v1/integrations/k8s/admission", review)
    assert answer.status_code == 200, answer.text
    response = answer.json()["response"]
    decision_id = response.get("auditAnnotations", {}).get("decision-id")
    return str(decision_id) if decision_id else _newest_for(served, s, before)


def ask_github(served: Served, s: Scenario) -> str:
    payload = json.loads(
        (FIXTURES / "github/deployment_protection_rule.requested.payload.json").read_text()
    )
    payload["environment"] = f"parity-{s.key}"
    payload["installation"] = {"id": INSTALLATION}
    payload["deployment"]["sha"] = GITHUB_SHA
    payload["sender"]["login"] = GITHUB_ACTOR
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    before = _known_ids(served, s)
    reply = served.client.post(
        "/v1/integrations/github/webhook",
        content=body,
        headers={
            "X-GitHub-Event": "deployment_protection_rule",
            "X-GitHub-Delivery": f"parity-delivery-{s.key}",
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        },
    )
    assert reply.status_code == 202, reply.text
    return _newest_for(served, s, before)


# --- computing it again locally -------------------------------------------------------------


def local_check(
    fleet: Fleet, decision: dict[str, Any], *, database: str | None, with_manifest: bool
) -> dict[str, Any]:
    """``clearance check`` for the recorded decision's exact target, at its recorded time."""
    target = decision["target"]
    command = [
        sys.executable, "-m", "clearance", "check", "--config", str(fleet.config),
        "--env", target["environment"], "--cluster", target["cluster"],
        "--namespace", target["namespace"], "--workload", target["workload"],
        "--now", decision["at"], "--format", "json",
    ]  # fmt: skip
    for image in target.get("images", []):
        command += ["--image", image]
    change = target.get("change") or {}
    for flag, name in (
        ("--commit", "commit"),
        ("--actor", "actor"),
        ("--pipeline-run", "pipeline_run"),
    ):
        if change.get(name):
            command += [flag, change[name]]
    if with_manifest:
        key = next(s.key for s in SCENARIOS if s.workload == target["workload"].split("/")[1])
        command += ["--manifest", str(fleet.root / "manifests" / f"{key}.yaml")]
    if database is not None:
        command += ["--database", database]
    done = subprocess.run(
        command, capture_output=True, text=True, env=clean_environment(), check=False, timeout=120
    )
    assert done.returncode in (0, 10, 20), done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer.get("decision", answer) if "verdict" not in answer else answer


def _contributors(decision: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["signal"]: c for c in decision["contributors"]}


def _joined_by_identity(decision: dict[str, Any]) -> None:
    # The Falcon alert names the node only by names Kubernetes does not have: it can match
    # only through the identity Falcon's host inventory reported (and sync stored).
    (falcon,) = [c for c in decision["contributors"] if c["source"] == "falcon-alerts"]
    assert falcon["proximity"] == "host"
    assert falcon["matched"] in {"host:web-cart-01", "mac:02:00:00:00:00:01", "ip:172.31.99.1"}


def _known_exploited(decision: dict[str, Any]) -> None:
    (kev,) = [c for c in decision["contributors"] if c["signal"].startswith("kev:")]
    assert kev["proximity"] == "direct"
    assert "CVE-2019-1551" in kev["signal"]


def _candidate_node(decision: dict[str, Any]) -> None:
    # The only node the manifest's nodeSelector allows is where the critical is.
    edr = _contributors(decision)["edr:newapp-node"]
    assert (edr["proximity"], edr["matched"]) == ("host", "host:node-s3")


def _workload_asset(decision: dict[str, Any]) -> None:
    (finding,) = [c for c in decision["contributors"] if c["source"] == "guardduty"]
    assert finding["proximity"] == "direct"
    assert finding["matched"] == "workload:prod-eu/shop/deployment/checkout"


def _folded(decision: dict[str, Any]) -> None:
    (falco,) = [c for c in decision["contributors"] if c["source"] == "falco" and
                c["proximity"] == "direct"]  # fmt: skip
    fired = [r for r in decision["reasons"] if r["code"] == "rule:repeated-runtime-events"]
    assert [r["signal"] for r in fired] == [falco["signal"]]


def _stale(decision: dict[str, Any]) -> None:
    assert decision["degraded"] == ["stale"]
    (stale,) = [r for r in decision["reasons"] if r["code"] == "stance:stale"]
    assert "'slow-feed'" in stale["message"]


def _unknown(decision: dict[str, Any]) -> None:
    assert decision["degraded"] == ["unknown_target"]


def _excepted(decision: dict[str, Any]) -> None:
    assert decision["exceptions"] == [{"signal": "edr:legacy-1", "exception": "EX-LEGACY-1"}]


HOW = {
    "s1": _joined_by_identity,
    "s2": _known_exploited,
    "s3": _candidate_node,
    "s4": _workload_asset,
    "s5": _folded,
    "s6": _stale,
    "s7": _unknown,
    "s8": _excepted,
}


PATHS = {
    "check --server": (ask_check_server, False),
    "check --server --manifest": (ask_check_server_with_manifest, True),
    "admission": (ask_admission, True),
    "github": (ask_github, False),
}


def _cases() -> list[Any]:
    cases = []
    for s in SCENARIOS:
        for name in PATHS:
            with_manifest = PATHS[name][1]
            if not s.exists and not with_manifest and s.in_cluster_node:
                continue  # a manifest-only Deployment is unknown to paths without a manifest
            if not s.in_cluster_node and with_manifest:
                continue  # an object with a manifest always has candidate nodes: not "unknown"
            cases.append(pytest.param(s, name, id=f"{s.key}-{s.workload}-{name}"))
    return cases


@pytest.mark.parametrize(("scenario", "path"), _cases())
def test_every_path_gives_the_one_decision(
    world: tuple[Fleet, Served], scenario: Scenario, path: str
) -> None:
    fleet, served = world
    ask, with_manifest = PATHS[path]
    recorded = _recorded(served, ask(served, scenario))

    assert recorded["verdict"] == scenario.expect, recorded["reasons"]
    codes = [r["code"] for r in recorded["reasons"]]
    assert scenario.reason in codes, codes

    HOW[scenario.key](recorded)

    on_store = local_check(fleet, recorded, database=served.database, with_manifest=with_manifest)
    live = local_check(fleet, recorded, database=None, with_manifest=with_manifest)
    assert on_store == recorded
    assert live == recorded


def test_every_recorded_decision_replays_to_identical_bytes(world: tuple[Fleet, Served]) -> None:
    """Runs after the paths above: everything they recorded replays byte for byte, and the
    chain that holds it verifies."""
    _, served = world
    for command in (["audit", "replay", "--all"], ["audit", "verify"]):
        done = subprocess.run(
            [sys.executable, "-m", "clearance", *command, "--database", served.database],
            capture_output=True, text=True, env=clean_environment(), check=False, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
