"""The real `clearance` command against a real service: check --server, --wait, approve."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server_harness import Live, start_live


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Live]:
    live, stop = start_live(f"sqlite:///{tmp_path / 'service.db'}", tmp_path)
    live.push(live.signal("1", 3, "medium"), live.signal("2", 5, "hot"))
    yield live
    stop()


def _env(server: Live, who: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CLEARANCE_"))}
    environ["CLEARANCE_TOKEN"] = server.secrets[who]
    return environ


def _command(server: Live, *args: str) -> list[str]:
    return [sys.executable, "-m", "clearance", *args, "--server", server.url]


def _check(server: Live, workload: str, *extra: str) -> list[str]:
    return _command(
        server, "check", "--env", "production", "--cluster", "prod-eu", "--namespace", "shop",
        "--workload", f"deployment/{workload}", *extra,
    )  # fmt: skip


def run(server: Live, who: str, command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, env=_env(server, who), check=False, timeout=60
    )


@pytest.mark.parametrize(("workload", "code"), [("clean", 0), ("medium", 10), ("hot", 20)])
def test_check_server_exit_codes(server: Live, workload: str, code: int) -> None:
    done = run(server, "ci", _check(server, workload))
    assert done.returncode == code, done.stderr
    assert server.secrets["ci"] not in done.stdout + done.stderr


def test_check_server_without_a_token_is_a_usage_error(server: Live) -> None:
    environ = _env(server, "ci")
    del environ["CLEARANCE_TOKEN"]
    done = subprocess.run(
        _check(server, "clean"), capture_output=True, text=True, env=environ, check=False
    )
    assert done.returncode == 2
    assert "CLEARANCE_TOKEN" in done.stderr


def test_wait_completes_after_two_approvals(server: Live) -> None:
    waiting = subprocess.Popen(
        _check(server, "medium", "--wait", "--poll-interval", "1s", "--report-every", "1s",
               "--actor", "dana"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(server, "dana"),
    )  # fmt: skip
    decision_id = None
    for _ in range(100):
        page = server.ctx.store.list_decisions()
        if page.records:
            decision_id = page.records[0].decision_id
            break
        time.sleep(0.1)
    assert decision_id is not None
    refused = run(server, "dana", _command(server, "approve", decision_id, "--reason", "mine"))
    assert refused.returncode == 2
    assert "requested" in refused.stderr
    for who in ("alice", "bob"):
        done = run(server, who, _command(server, "approve", decision_id, "--reason", "checked"))
        assert done.returncode == 0, done.stderr
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert "waiting for approval" in err
    assert "Approved by user:alice, user:bob" in out


def test_wait_ends_on_a_rejection_and_times_out_otherwise(server: Live) -> None:
    timed_out = run(
        server, "ci", _check(server, "medium", "--wait", "--timeout", "2s", "--poll-interval", "1s")
    )
    assert timed_out.returncode == 10
    assert "gave up waiting" in timed_out.stderr
    waiting = subprocess.Popen(
        _check(server, "medium", "--wait", "--poll-interval", "1s"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(server, "ci"),
    )  # fmt: skip
    time.sleep(1.0)
    decision_id = server.ctx.store.list_decisions().records[0].decision_id
    done = run(server, "bob", _command(server, "reject", decision_id, "--reason", "not today"))
    assert done.returncode == 0, done.stderr
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 20, err


def test_exceptions_create_list_revoke(server: Live) -> None:
    made = run(
        server, "root",
        _command(server, "exceptions", "create", "--signal", "edr:2", "--env", "production",
                 "--cluster", "prod-eu", "--namespace", "shop", "--workload", "deployment/hot",
                 "--expires-in", "2h", "--reason", "lab host", "--ticket", "SEC-1",
                 "--id", "exc-1"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert run(server, "ci", _check(server, "hot")).returncode == 0
    listed = run(server, "root", _command(server, "exceptions", "list"))
    assert "exc-1" in listed.stdout
    assert "active" in listed.stdout
    revoked = run(server, "root", _command(server, "exceptions", "revoke", "exc-1"))
    assert revoked.returncode == 0, revoked.stderr
    assert run(server, "ci", _check(server, "hot")).returncode == 20


@dataclass
class Served:
    """``clearance serve --demo`` in a subprocess, with a token made before it starts."""

    process: subprocess.Popen[str]
    port: int
    token: str
    database: str
    environ: dict[str, str]


def _serve_demo(tmp_path: Path, *flags: str, scope: str = "decide") -> Served:
    import socket

    database = f"sqlite:///{tmp_path / 'demo.db'}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    token = subprocess.run(
        [sys.executable, "-m", "clearance", "tokens", "create", "ci", "--scope", scope,
         "--database", database],
        capture_output=True, text=True, env=environ, check=True,
    ).stdout.strip()  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "clearance", "serve", "--demo", "--port", str(port),
         "--database", database, *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
    )  # fmt: skip
    return Served(process, port, token, database, environ)


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_demo_answers_with_the_demo_decisions(tmp_path: Path, workers: int) -> None:
    import httpx

    served = _serve_demo(tmp_path, "--workers", str(workers))
    serving, token, database, environ = (
        served.process,
        served.token,
        served.database,
        served.environ,
    )
    base = f"http://127.0.0.1:{served.port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        answer = httpx.post(
            base + "/v1/decisions",
            headers={"Authorization": f"Bearer {token}"},
            json={"environment": "production", "cluster": "prod-eu", "namespace": "shop",
                  "workload": "deployment/checkout"},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert answer.json()["decision"]["verdict"] == "block"
        for commit in ("a", "b", "c"):  # whichever worker answers, one chain grows
            more = httpx.post(
                base + "/v1/decisions",
                headers={"Authorization": f"Bearer {token}"},
                json={"environment": "production", "cluster": "prod-eu", "namespace": "shop",
                      "workload": "deployment/checkout", "change": {"commit": commit}},
            )  # fmt: skip
            assert more.status_code == 200
        assert "Credential dumping" in answer.text
        assert httpx.get(base + "/openapi.json").json()["info"]["title"] == "Clearance"
    finally:
        serving.terminate()
        _, err = serving.communicate(timeout=10)
    assert token not in err
    verified = subprocess.run(
        [sys.executable, "-m", "clearance", "audit", "verify", "--database", database],
        capture_output=True, text=True, env=environ, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # One chain: the 4 decisions, the token made before and the policy the service stored.
    assert verified.stdout.startswith("ok: 6 records")
    assert "decision=4, policy.stored=1, token.created=1" in verified.stdout


def test_serve_mounts_the_integrations_over_tls(tmp_path: Path) -> None:
    """``serve --integrations … --tls-cert … --tls-key …``: the admission webhook answers an
    AdmissionReview over HTTPS that only the generated CA's clients trust (the API server's
    caBundle), and the demo's blocked workload is denied."""
    import json
    import ssl

    import httpx
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key, ca_pem = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_pem))
    integrations = tmp_path / "integrations.yaml"
    integrations.write_text(
        json.dumps({"admission": {"cluster": "prod-eu", "namespaces": {"shop": "production"}}})
    )
    served = _serve_demo(
        tmp_path,
        "--integrations",
        str(integrations),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
    )
    serving, token, port = served.process, served.token, served.port
    base = f"https://127.0.0.1:{port}"
    fixtures = Path(__file__).parent.parent / "fixtures" / "admission"
    review = json.loads(
        (fixtures / "admissionreview.v1.deployment-create.kube-review.json").read_text()
    )
    review["request"] |= {"namespace": "shop", "name": "checkout"}
    try:
        trusting = ssl.create_default_context(cafile=str(ca_pem))
        with httpx.Client(verify=trusting, timeout=10) as client:
            for _ in range(200):
                try:
                    if client.get(base + "/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            answer = client.post(
                base + "/v1/integrations/k8s/admission",
                headers={"Authorization": f"Bearer {token}"},
                json=review,
            )
        assert answer.status_code == 200, answer.text
        response = answer.json()["response"]
        assert response["uid"] == review["request"]["uid"]
        assert response["allowed"] is False
        assert "Credential dumping" in response["status"]["message"]
        with pytest.raises(httpx.ConnectError):  # a client without the CA does not trust it
            httpx.get(base + "/readyz")
    finally:
        serving.terminate()
        out, err = serving.communicate(timeout=10)
    assert f"serving on https://127.0.0.1:{port}" in out
    assert "integrations mounted" in out
    assert token not in out + err


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_verifies_the_api_servers_client_certificate(tmp_path: Path, workers: int) -> None:
    """``serve --tls-client-ca``: admission accepts the API server by its client certificate
    (no token), and refuses a caller with neither (observation 8: authenticated by default)."""
    import json
    import ssl

    import httpx
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    client = ca.issue_cert("kube-apiserver", common_name="kube-apiserver")
    cert, key, ca_pem = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.pem"
    client_pem = tmp_path / "client.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_pem))
    client.private_key_and_cert_chain_pem.write_to_path(str(client_pem))
    integrations = tmp_path / "integrations.yaml"
    admission = {
        "cluster": "prod-eu",
        "namespaces": {"shop": "production"},
        "client_subjects": ["kube-apiserver"],
    }
    integrations.write_text(json.dumps({"admission": admission}))
    served = _serve_demo(
        tmp_path,
        "--integrations", str(integrations),
        "--tls-cert", str(cert),
        "--tls-key", str(key),
        "--tls-client-ca", str(ca_pem),
        "--workers", str(workers),
    )  # fmt: skip
    base = f"https://127.0.0.1:{served.port}"
    fixtures = Path(__file__).parent.parent / "fixtures" / "admission"
    review = json.loads(
        (fixtures / "admissionreview.v1.deployment-create.kube-review.json").read_text()
    )
    review["request"] |= {"namespace": "shop", "name": "checkout"}
    apiserver = ssl.create_default_context(cafile=str(ca_pem))
    apiserver.load_cert_chain(str(client_pem))
    stranger = ssl.create_default_context(cafile=str(ca_pem))
    try:
        with httpx.Client(verify=apiserver, timeout=10) as c:
            for _ in range(600):  # two workers start slowly on a loaded machine
                try:
                    if c.get(base + "/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            answer = c.post(base + "/v1/integrations/k8s/admission", json=review)
        with httpx.Client(verify=stranger, timeout=10) as c:
            refused = c.post(base + "/v1/integrations/k8s/admission", json=review)
    finally:
        served.process.terminate()
        served.process.communicate(timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"]["allowed"] is False
    assert refused.status_code == 401


def _idle_then_ask_again(port: int, idle: float) -> int | None:
    """Ask /readyz, leave the keep-alive connection idle for ``idle`` seconds, ask again on it:
    the second answer's status, or None when the service had closed the connection."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/readyz")
        first = connection.getresponse()
        first.read()
        assert first.status == 200
        time.sleep(idle)
        try:
            connection.request("GET", "/readyz")
            answer = connection.getresponse()
            answer.read()
            return answer.status
        except (http.client.RemoteDisconnected, ConnectionError):
            return None
    finally:
        connection.close()


def _ready(port: int) -> None:
    import httpx

    for _ in range(400):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("clearance serve never became ready")


def test_an_idle_connection_is_left_for_the_client_to_close(tmp_path: Path) -> None:
    """Past uvicorn's own 5 s an idle keep-alive connection is still open, so a client reusing
    it (the API server keeps one up to 90 s) is answered; ``keep_alive`` sets how long."""
    served = _serve_demo(tmp_path)
    try:
        _ready(served.port)
        assert _idle_then_ask_again(served.port, idle=6) == 200
    finally:
        served.process.terminate()
        served.process.communicate(timeout=10)
    settings = tmp_path / "server.yaml"
    settings.write_text("server:\n  keep_alive: 1\n")
    (tmp_path / "demo.db").unlink()
    served = _serve_demo(tmp_path, "--settings", str(settings))
    try:
        _ready(served.port)
        assert _idle_then_ask_again(served.port, idle=2.5) is None
    finally:
        served.process.terminate()
        served.process.communicate(timeout=10)
