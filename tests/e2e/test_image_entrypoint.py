"""The container image's exact entrypoint, with deploy/'s exact config, answers decisions.

No image can be built or pulled here, so this runs what the image would run: the Dockerfile's
ENTRYPOINT and ENV, the sqlite-single overlay's container args, environment and volumes (its
ConfigMap, the cert-manager TLS Secret, the Falcon Secret, the service account), inside a
private mount namespace that lays those files at their exact paths, with a read-only root
filesystem and the pod's user id (``podsandbox``). The interpreter is ``$CLEARANCE_IMAGE_VENV``
(a fresh virtualenv with the wheel installed as the Dockerfile installs it, made by
``.ci/install-matrix``), else the one running the tests.

What differs from a cluster, and why: the process shares the host's network, so it listens on
127.0.0.1 and a free port instead of 0.0.0.0:8443; the Kubernetes API and Falcon are loopback
stand-ins (``FALCON_CLOUD`` points at one; in-cluster, ``KUBERNETES_SERVICE_HOST`` at the other).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

import podsandbox
from kustomize_lite import render
from standins.falcon import CLIENT_ID, CLIENT_SECRET, FalconStandIn, fixture
from standins.kube_apiserver import TOKEN, KubeApiServer, load_cluster

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "tests/fixtures/k8s/prod-eu.cluster.json"
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
NODE_INSTANCE = "i-03dc801fd988ab620"  # duckboat-01, where icx/icx-db runs


def dockerfile() -> dict[str, Any]:
    """The runtime stage's ENTRYPOINT, CMD, ENV and USER, and every FROM line."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("#")]
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    runtime = lines[stages[-1] :]
    env: dict[str, str] = {}
    for line in runtime:
        if line.startswith("ENV "):
            env |= dict(re.findall(r"(\w+)=(\S+)", line[4:]))
    found: dict[str, Any] = {"env": env, "froms": [lines[i] for i in stages]}
    for line in runtime:
        word, _, rest = line.partition(" ")
        if word in ("ENTRYPOINT", "CMD"):
            found[word.lower()] = json.loads(rest)
        elif word in ("USER", "HEALTHCHECK"):
            found[word.lower()] = rest
    found["args"] = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    found["text"] = text
    return found


def test_the_dockerfile_pins_its_base_runs_unprivileged_and_checks_health() -> None:
    image = dockerfile()
    assert image["entrypoint"] == ["clearance"]
    assert image["cmd"][0] == "serve"
    for line in image["froms"]:  # every stage on the pinned base
        assert line.split()[1] == "${PYTHON_IMAGE}"
    pinned = r"python:[\d.]+-slim-\w+@sha256:[0-9a-f]{64}"
    assert re.fullmatch(pinned, image["args"]["PYTHON_IMAGE"])
    assert image["user"] == "10001:10001"
    deployment = one(render(ROOT / "deploy/base"), "Deployment")
    security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"]) == (10001, 10001)
    assert "/healthz" in image["healthcheck"]
    assert '"$(ls /dist/clearance-*.whl)[all]"' in image["text"]  # the image has every extra
    assert image["env"]["CLEARANCE_DATABASE_URL"].startswith("sqlite:////var/lib/clearance/")


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


def image_venv() -> Path:
    named = os.environ.get("CLEARANCE_IMAGE_VENV")
    return Path(named) if named else Path(sys.prefix)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def falcon_alert_on_the_node(now: datetime) -> dict[str, Any]:
    alert = dict(fixture("alerts-combined-v1.epp.page1.json")["resources"][0])
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    alert |= {"severity_name": "Critical", "severity": 90, "status": "new"}
    alert |= {"updated_timestamp": stamp, "timestamp": stamp, "last_timestamp": stamp}
    alert["device"] = dict(alert["device"], instance_id=NODE_INSTANCE, service_provider="AWS_EC2")
    return alert


def pod_from_manifests(
    venv: Path, ca: trustme.CA, urls: dict[str, str], port: int
) -> podsandbox.Pod:
    docs = render(ROOT / "deploy/overlays/sqlite-single")
    deployment = one(docs, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    [container] = spec["containers"]
    image = dockerfile()
    falcon = {"client_id": CLIENT_ID.encode(), "client_secret": CLIENT_SECRET.encode()}
    serving = ca.issue_cert("clearance.clearance.svc", "127.0.0.1")
    secrets: dict[str, dict[str, bytes]] = {"clearance-falcon": falcon}  # `kubectl create secret`
    secrets["clearance-tls"] = {  # what cert-manager writes
        "tls.crt": serving.cert_chain_pems[0].bytes(),
        "tls.key": serving.private_key_pem.bytes(),
        "ca.crt": ca.cert_pem.bytes(),
    }
    # The CA of the API server's webhook client certificate (`kubectl create secret`).
    secrets["clearance-apiserver-client-ca"] = {"ca.crt": ca.cert_pem.bytes()}
    files: dict[str, bytes] = {}
    writable: list[str] = []
    volumes = {v["name"]: v for v in spec["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            [config_map] = [d for d in docs if d["metadata"]["name"] == volume["configMap"]["name"]]
            for key, text in config_map["data"].items():
                files[f"{mount['mountPath']}/{key}"] = text.encode()
        elif "secret" in volume:
            held = secrets[volume["secret"]["secretName"]]
            items = volume["secret"].get("items") or [{"key": k, "path": k} for k in held]
            for item in items:
                files[f"{mount['mountPath']}/{item['path']}"] = held[item["key"]]
        else:  # emptyDir, persistentVolumeClaim
            writable.append(mount["mountPath"])
    files[f"{SERVICE_ACCOUNT}/token"] = TOKEN.encode()
    files[f"{SERVICE_ACCOUNT}/ca.crt"] = ca.cert_pem.bytes()
    files[f"{SERVICE_ACCOUNT}/namespace"] = deployment["metadata"]["namespace"].encode()
    env = dict(image["env"])
    env["PATH"] = env["PATH"].replace("/opt/clearance/bin", str(venv / "bin"))
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]].decode()
    env["FALCON_CLOUD"] = urls["falcon"]
    host, _, api_port = urls["kubernetes"].removeprefix("https://").partition(":")
    env |= {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": api_port, "HOME": "/"}
    args = [re.sub(r"^--host=.*", "--host=127.0.0.1", a) for a in container["args"]]
    args = [re.sub(r"^--port=.*", f"--port={port}", a) for a in args]
    return podsandbox.Pod(
        argv=[*image["entrypoint"], *args],
        env=env,
        files=files,
        writable=writable,
        uid=spec["securityContext"]["runAsUser"],
        gid=spec["securityContext"]["runAsGroup"],
        # The virtualenv, its interpreter and (editable installs) the source it points to.
        readable=[venv / "pyvenv.cfg", venv / "bin" / "python", ROOT / "src"],
    )


@pytest.fixture
def standins() -> Iterator[tuple[trustme.CA, dict[str, str]]]:
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    falcon = FalconStandIn()
    falcon.add_alerts([falcon_alert_on_the_node(datetime.now(UTC))])
    with falcon, KubeApiServer(load_cluster(CLUSTER), tls=tls) as kube:
        yield ca, {"falcon": falcon.start(), "kubernetes": kube.url}


def test_the_image_entrypoint_serves_decisions_from_the_deploy_config(
    tmp_path: Path, standins: tuple[trustme.CA, dict[str, str]]
) -> None:
    reason = podsandbox.unavailable()
    if reason:
        pytest.skip(reason)
    ca, urls = standins
    port = free_port()
    pod = pod_from_manifests(image_venv(), ca, urls, port)
    log = (tmp_path / "pod.log").open("wb")
    process = podsandbox.start(pod, tmp_path / "pod", stdout=log, stderr=subprocess.STDOUT)
    verify = ssl.create_default_context()
    ca.configure_trust(verify)
    base = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, verify=verify, timeout=10) as http:
            wait_for(lambda: ready(http), process, tmp_path, "GET /readyz → 200")
            created = podsandbox.exec_in(
                process.pid, pod, ["clearance", "tokens", "create", "ci", "--scope", "decide"]
            )
            assert created.returncode == 0, created.stderr
            probe = podsandbox.exec_in(process.pid, pod, ["sh", "-c", "id -u; touch /probe"])
            assert probe.stdout.split() == [str(pod.uid)]  # the pod's user, not root
            assert "Read-only file system" in probe.stderr  # readOnlyRootFilesystem
            token = created.stdout.strip().splitlines()[-1]
            http.headers["Authorization"] = f"Bearer {token}"
            wait_for(lambda: synced(http), process, tmp_path, "Falcon synced by the service")
            body = {
                "environment": "production",
                "cluster": pod.env["CLEARANCE_CLUSTER"],
                "namespace": "icx",
                "workload": "deployment/icx-db",
            }
            answer = http.post("/v1/decisions", json=body)
            assert answer.status_code == 200, answer.text
            decision = answer.json()["decision"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
    codes = [r["code"] for r in decision["reasons"]]
    # The Falcon alert on the EC2 instance under the node the workload runs on, found through
    # the in-cluster service account: the whole chain the package describes works.
    assert "rule:critical-detection-near-target" in codes, codes
    assert "stance:unknown_target" not in codes
    assert decision["verdict"] == "block"


def ready(http: httpx.Client) -> bool:
    try:
        return http.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def synced(http: httpx.Client) -> bool:
    sources = http.get("/v1/sources").json()
    rows = sources.get("sources", sources) if isinstance(sources, dict) else sources
    by_name = {row["name"]: row for row in rows}
    return bool(by_name.get("falcon", {}).get("last_success"))


def wait_for(
    check: Any, process: subprocess.Popen[bytes], tmp_path: Path, what: str, tries: int = 300
) -> None:
    """Poll ``check`` (bounded); a pod that exits or never gets there fails with its log."""
    for _ in range(tries):
        if process.poll() is not None:
            pytest.fail(f"the pod exited ({process.returncode}):\n{pod_log(tmp_path)}")
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what}: not reached\n{pod_log(tmp_path)}")


def pod_log(tmp_path: Path) -> str:
    return (tmp_path / "pod.log").read_text(errors="replace")[-4000:]
