"""A real ``clearance serve`` over HTTPS with the console, an OIDC stand-in to sign in at, and
a GitHub API stand-in whose protection-rule gates the console's approvals answer.

The people (the stand-in's users; their claims map to scopes by the issuer's rules, as for any
OIDC caller):

    alice, bob   approvers in groups security and engineering
    carol        read-only (the ``decide`` scope)
    dave         approver in engineering, and the owner of the API token that asks for
                 decisions: the requester of those
    erin         signs in, but the issuer's rules grant her nothing

The fleet: ``shop/deployment/web`` in production and ``stage/deployment/web`` in staging both
run an image with a known-exploited CVE (a KEV rule: ``approve``); production needs 2 approvals
from security, staging 1 from engineering (the demo policy).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import trustme
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from served import clean_environment, free_port

from clearance.model.signal import format_time
from oidc_support import Issuer
from standins._server import Loopback
from standins.github_api import GitHubApiHandler, GitHubApiState
from standins.oidc_provider import OidcProviderHandler, OidcProviderState

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CLIENT_ID = "clearance-console"
APP_ID = "Iv23liCONSOLE"
INSTALLATION = 4242
WEBHOOK_SECRET = "console-webhook-secret-for-tests"
IMAGE = "ghcr.io/acme/web:2.0"

USERS: dict[str, dict[str, Any]] = {
    "alice": {"groups": ["security", "engineering"], "clearance_role": "approver"},
    "bob": {"groups": ["security", "engineering"], "clearance_role": "approver"},
    "carol": {"groups": ["security"], "clearance_role": "viewer"},
    "dave": {"groups": ["engineering"], "clearance_role": "approver"},
    "erin": {"groups": []},
}


@dataclass
class Console:
    base: str  # https://127.0.0.1:PORT
    ca: Path  # the CA that signed the service's certificate
    tokens: dict[str, str]
    github: GitHubApiState
    provider: OidcProviderState
    github_api: str
    client: httpx.Client

    def decide(self, environment: str, namespace: str, who: str = "dave") -> dict[str, Any]:
        body = {
            "environment": environment,
            "cluster": "prod-eu",
            "namespace": namespace,
            "workload": "deployment/web",
            "images": [IMAGE],
        }
        answer = self.client.post(
            "/v1/decisions", json=body, headers={"Authorization": f"Bearer {self.tokens[who]}"}
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def status(self, decision_id: str) -> dict[str, Any]:
        answer = self.client.get(
            f"/v1/decisions/{decision_id}",
            headers={"Authorization": f"Bearer {self.tokens['dave']}"},
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def deliver_gate(self, run: int) -> None:
        """GitHub asks about a deployment to production (a signed protection-rule delivery)."""
        data: dict[str, Any] = json.loads(
            (FIXTURES / "github/deployment_protection_rule.requested.payload.json").read_text()
        )
        data["deployment_callback_url"] = (
            f"{self.github_api}/repos/Codertocat/Hello-World/actions/runs/{run}"
            "/deployment_protection_rule"
        )
        data["installation"] = {"id": INSTALLATION}
        data["environment"] = "production"
        body = json.dumps(data).encode()
        digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": "deployment_protection_rule",
            "X-GitHub-Delivery": f"console-{run}",
            "X-Hub-Signature-256": f"sha256={digest}",
            "Content-Type": "application/json",
        }
        reply = self.client.post("/v1/integrations/github/webhook", content=body, headers=headers)
        assert reply.status_code == 202, reply.text

    def reviews(self, count: int, wait: float = 30.0) -> list[dict[str, Any]]:
        """The bodies GitHub received, once there are ``count`` of them."""
        deadline = time.monotonic() + wait
        while len(self.github.reviews) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return [r["body"] for r in self.github.reviews]


def _write_fleet(root: Path) -> Path:
    now = datetime.now(UTC)
    kev = {
        "uid": "scanner:CVE-2024-3094:web",
        "source": "scanner",
        "kind": "known_exploited",
        "title": "CVE-2024-3094 in xz-utils (CISA KEV)",
        "rule": "CVE-2024-3094",
        "severity": 2,
        "confidence": 1.0,
        "status": "open",
        "first_seen": format_time(now - timedelta(minutes=30)),
        "last_seen": format_time(now - timedelta(minutes=5)),
        "assets": [f"image:{IMAGE}"],
        "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-3094",
    }
    (root / "signals.jsonl").write_text(json.dumps(kev) + "\n", encoding="utf-8")

    def entry(namespace: str, node: str) -> dict[str, Any]:
        assets = {"direct": [f"image:{IMAGE}"], "host": [f"host:{node}"]}
        return {"cluster": "prod-eu", "namespace": namespace, "workload": "deployment/web",
                "assets": assets}  # fmt: skip

    inventory = {"targets": [entry("shop", "node-a"), entry("stage", "node-b")]}
    (root / "inventory.yaml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    policy = resources.files("clearance.demo").joinpath("policy.yaml").read_text("utf-8")
    (root / "policy.yaml").write_text(policy, encoding="utf-8")
    config = {
        "policy": "policy.yaml",
        "sources": [{"name": "scanner", "type": "file", "path": "signals.jsonl"}],
        "inventory": {"name": "static", "type": "static", "path": "inventory.yaml"},
    }
    (root / "clearance.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return root / "clearance.yaml"


def _app_key(root: Path) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (root / "github-app.pem").write_bytes(pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode()


def _run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "clearance", *args],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


@contextmanager
def console_service(root: Path) -> Iterator[Console]:
    config = _write_fleet(root)
    env = clean_environment()
    database = f"sqlite:///{root / 'clearance.db'}"
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(root / "server.pem"))
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    public_key = _app_key(root)
    github = GitHubApiState(APP_ID, public_key, datetime.now(UTC), installations={INSTALLATION})
    provider = OidcProviderState(
        issuer=Issuer(url="", audience="clearance-api", kid="console-key"),
        clients={CLIENT_ID: {f"{base}/console/callback"}},
        users={
            name: {"sub": name, "preferred_username": name, "email": f"{name}@example.com",
                   "name": name.capitalize(), **claims}
            for name, claims in USERS.items()
        },
    )  # fmt: skip
    with ExitStack() as stack:
        api = stack.enter_context(Loopback(GitHubApiHandler, github))
        idp = stack.enter_context(Loopback(OidcProviderHandler, provider))
        provider.issuer.url = idp
        issuer = provider.issuer.settings(
            f"{idp}/.well-known/jwks",
            subject_claim="preferred_username",
            groups_claim="groups",
            rules=[
                {"claims": {"clearance_role": "approver"}, "scopes": ["approve", "decide"]},
                {"claims": {"clearance_role": "viewer"}, "scopes": ["decide"]},
            ],
        )
        settings = {
            "server": {
                "oidc": [issuer],
                "token_groups": {"dave": ["engineering"]},
                "console": {
                    "url": base,
                    "issuer": idp,
                    "client_id": CLIENT_ID,
                    "session_secret": "${CONSOLE_SESSION_SECRET}",
                },
            }
        }
        (root / "server.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
        integrations = {
            "console_url": base,
            "github": {
                "app_id": APP_ID,
                "private_key_path": str(root / "github-app.pem"),
                "webhook_secret": WEBHOOK_SECRET,
                "api_url": api,
                "retries": 2,
                "backoff_seconds": 0.05,
                "environments": {
                    "production": {"environment": "production", "cluster": "prod-eu",
                                   "namespace": "shop", "workload": "deployment/web",
                                   "images": [IMAGE]},
                },
            },
        }  # fmt: skip
        (root / "integrations.yaml").write_text(yaml.safe_dump(integrations), encoding="utf-8")
        env["CONSOLE_SESSION_SECRET"] = "a-session-secret-of-forty-characters-xx"
        _run("sync", "--config", str(config), "--database", database, env=env)
        tokens = {
            "dave": _run("tokens", "create", "dave", "--scope", "decide", "--database", database,
                         env=env),
        }  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-m", "clearance", "serve", "--config", str(config),
             "--database", database, "--port", str(port), "--no-sync",
             "--settings", str(root / "server.yaml"),
             "--integrations", str(root / "integrations.yaml"),
             "--tls-cert", str(root / "server.pem"), "--tls-key", str(root / "server.pem")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        stack.callback(_stop, process)
        client = stack.enter_context(
            httpx.Client(
                base_url=base, verify=ssl.create_default_context(cafile=root / "ca.pem"), timeout=30
            )
        )
        _wait_ready(process, client)
        yield Console(base, root / "ca.pem", tokens, github, provider, api, client)


def _wait_ready(process: subprocess.Popen[str], client: httpx.Client) -> None:
    for _ in range(600):
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"clearance serve exited {process.returncode}:\n{err}")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("clearance serve never became ready")


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.communicate(timeout=15)
    except subprocess.TimeoutExpired:  # pragma: no cover - a hung shutdown is the bug
        process.kill()
        process.communicate()


# Debian's chromium, which .ci/run installs; Playwright drives it instead of a browser build
# of its own (which cannot be downloaded here).
CHROMIUM = os.environ.get("CLEARANCE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",  # no calls to Google's hosts from a closed network
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
