"""The authorization matrix: every route of the real server's ``/openapi.json`` × every kind of
credential that must not work, over real HTTP (uvicorn on loopback), with a valid body.

Each route is listed in :data:`ROUTES` with the scope it needs and a request that succeeds with
that scope (the positive control, checked first: a refusal then means the credential was
refused, not the body). A route the server serves that is missing here fails the test, so a new
route must say who may call it. Public routes are :data:`clearance.server.guard.PUBLIC`, each
with its reason. A new kind of credential (another principal mapping) is one entry in
:func:`bad_credentials`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clearance.integrations.settings import IntegrationSettings
from clearance.server.guard import PUBLIC
from clearance.store.interface import Scope
from server_harness import Live, start_live

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SECRET = "matrix-webhook-secret"
TARGET = {
    "environment": "production",
    "cluster": "prod-eu",
    "namespace": "shop",
    "workload": "deployment/medium",
}


@dataclass(frozen=True)
class Call:
    scope: str  # decide, approve, admin, ingest; "github": HMAC-signed, no bearer credential
    body: Callable[[dict[str, str]], Any] | None = None  # ids → JSON body
    raw: Callable[[dict[str, str]], bytes] | None = None  # ids → bytes (push formats)
    params: dict[str, str] | None = None


def _falco(_: dict[str, str]) -> bytes:
    path = FIXTURES / "falco/events.syscall-k8s.falco-website.jsonl"
    return path.read_text().splitlines()[0].encode()


def _ocsf(_: dict[str, str]) -> bytes:
    return (FIXTURES / "ocsf/detection_finding.k8s-container.synthetic.ocsf.json").read_bytes()


def _review(_: dict[str, str]) -> Any:
    path = FIXTURES / "admission/admissionreview.v1.deployment-create.kube-review.json"
    review = json.loads(path.read_text())
    review["request"]["namespace"] = "shop"
    return review


def _smoke() -> dict[str, Any]:
    report = FIXTURES / "reports/pytest-junit.failing.xml"
    return {"report": {"format": "junit", "name": report.name, "content": report.read_text()}}


def _exception(ids: dict[str, str]) -> dict[str, Any]:
    return {
        **TARGET,
        "signal": "edr:matrix",
        "expires": ids["expires"],
        "reason": "accepted",
        "ticket": "SEC-1",
    }


ROUTES: dict[tuple[str, str], Call] = {
    ("POST", "/v1/decisions"): Call("decide", body=lambda ids: TARGET),
    ("GET", "/v1/decisions"): Call("decide"),
    ("GET", "/v1/decisions/{decision_id}"): Call("decide"),
    ("POST", "/v1/decisions/{decision_id}/approvals"): Call(
        "approve", body=lambda ids: {"outcome": "approve", "reason": "looked"}
    ),
    ("GET", "/v1/decisions/{decision_id}/approvals"): Call("decide"),
    ("POST", "/v1/decisions/{decision_id}/deployed"): Call("decide"),
    ("POST", "/v1/decisions/{decision_id}/checks"): Call("decide", body=lambda ids: _smoke()),
    ("GET", "/v1/decisions/{decision_id}/checks"): Call("decide"),
    ("POST", "/v1/decisions/{decision_id}/break-glass"): Call(
        "approve", body=lambda ids: {"reason": "outage", "ticket": "INC-1"}
    ),
    ("POST", "/v1/exceptions"): Call("admin", body=_exception),
    ("GET", "/v1/exceptions"): Call("decide"),
    ("DELETE", "/v1/exceptions/{exception_id}"): Call("admin"),
    ("POST", "/v1/break-glass/{grant_id}/confirm"): Call("approve"),
    ("GET", "/v1/break-glass"): Call("decide"),
    ("POST", "/v1/signals"): Call(
        "ingest",
        body=lambda ids: {
            "signals": [
                {
                    "uid": "pushed:1",
                    "source": "pushed",
                    "kind": "detection",
                    "title": "t",
                    "severity": 2,
                    "confidence": 0.5,
                    "first_seen": ids["now"],
                    "assets": ["host:node-a"],
                }
            ]
        },
    ),
    ("GET", "/v1/sources"): Call("decide"),
    ("POST", "/v1/ingest/falco"): Call("ingest", raw=_falco),
    ("POST", "/v1/ingest/falco/{endpoint}"): Call("ingest", raw=_falco),
    ("POST", "/v1/ingest/ocsf"): Call("ingest", raw=_ocsf),
    ("POST", "/v1/ingest/ocsf/{endpoint}"): Call("ingest", raw=_ocsf),
    ("POST", "/v1/integrations/github/webhook"): Call(
        "github", raw=lambda ids: b'{"zen": "Keep it logically awesome."}'
    ),
    ("GET", "/v1/integrations/github/deliveries/{decision_id}"): Call("decide"),
    ("GET", "/v1/integrations/github/deliveries"): Call("decide"),
    ("POST", "/v1/integrations/k8s/admission"): Call("decide", body=_review),
    ("GET", "/v1/integrations/argo/measurement"): Call("decide", params=TARGET),
    ("POST", "/v1/integrations/argo/measurement"): Call("decide", body=lambda ids: TARGET),
    ("POST", "/v1/integrations/flagger/{hook}"): Call(
        "decide",
        body=lambda ids: {"name": "clean", "namespace": "shop", "phase": "Progressing"},
    ),
}

HOLDERS = {"decide": "ci", "approve": "bob", "admin": "root", "ingest": "feeder"}


def bad_credentials(server: Live, route_scope: str, minted: dict[str, str]) -> dict[str, Any]:
    """Every credential that must not open a route needing ``route_scope``, by name: the header
    value to send (None: no header). One entry per kind; add one for a new principal kind."""
    root_id = next(t.id for t in server.ctx.store.list_tokens() if t.name == "root")
    creds: dict[str, Any] = {
        "none": None,
        "garbage": "Bearer clr_not-a-token-at-all",
        "not bearer": f"Basic {server.secrets['root']}",
        "revoked admin": f"Bearer {minted['revoked']}",
        "expired admin": f"Bearer {minted['expired']}",
        # Another principal's names are not credentials.
        "alias token:root": "Bearer token:root",
        "alias root": "Bearer root",
        "alias token id": f"Bearer {root_id}",
        "unsigned JWT": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290In0.",
    }
    for scope, who in HOLDERS.items():
        if scope not in (route_scope, "admin") and route_scope != "github":
            creds[f"wrong scope ({scope})"] = f"Bearer {server.secrets[who]}"
    return creds


def _mint(server: Live) -> dict[str, str]:
    """An admin token revoked, and one that expires a minute from now (the test then moves the
    clock past it)."""
    store, now = server.ctx.store, server.clock.now
    info, revoked = store.create_token("matrix-revoked", [Scope.ADMIN], now)
    store.revoke_token(info.id, now)
    _, expired = store.create_token(
        "matrix-expired", [Scope.ADMIN], now, now + timedelta(minutes=1)
    )
    return {"revoked": revoked, "expired": expired}


def _integrations() -> IntegrationSettings:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return IntegrationSettings.model_validate(
        {
            "github": {"app_id": "1", "private_key": pem, "webhook_secret": SECRET},
            "admission": {"cluster": "prod-eu", "namespaces": {"shop": "production"}},
            "argo": {},
            "flagger": {"cluster": "prod-eu", "namespaces": {"shop": "production"}},
        }
    )


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Any:
    live, stop = start_live(
        store_url,
        tmp_path,
        {"ingest": {"falco": {"default": {"cluster": "prod-eu"}}}},
        integrations=_integrations(),
    )
    yield live
    stop()


def _ids(server: Live) -> dict[str, str]:
    """Real objects for the paths: an ``approve`` decision, a break-glass grant, an exception."""
    now = server.clock.now
    assert server.push(server.signal("matrix", 3, "medium")).status_code == 200
    decision = server.ask("medium")
    with server.client("alice") as alice:
        grant = alice.post(
            f"/v1/decisions/{decision['id']}/break-glass",
            json={"reason": "outage", "ticket": "INC-1"},
        )
    assert grant.status_code == 201, grant.text
    expires = (now + timedelta(days=7)).isoformat().replace("+00:00", "Z")
    with server.client("root") as root:
        made = root.post("/v1/exceptions", json=_exception({"expires": expires}))
    assert made.status_code == 201, made.text
    return {
        "decision_id": decision["id"],
        "grant_id": grant.json()["break_glass"]["id"],
        "exception_id": made.json()["exception"]["id"],
        "endpoint": "default",
        "hook": "pre-rollout",
        "now": now.isoformat().replace("+00:00", "Z"),
        "expires": expires,
    }


def _send(
    server: Live, method: str, path: str, call: Call, ids: dict[str, str], header: Any
) -> int:
    url = path.format(**ids)
    headers = {} if header is None else {"Authorization": header}
    content = None
    if call.raw is not None:
        content = call.raw(ids)
    elif call.body is not None:
        content = json.dumps(call.body(ids)).encode()
    if content is not None:
        headers["Content-Type"] = "application/json"
    if call.scope == "github":
        digest = hmac.new(SECRET.encode(), content or b"", hashlib.sha256).hexdigest()
        headers["X-GitHub-Event"] = "ping"
        if header == "signed":
            headers.pop("Authorization")
            headers["X-Hub-Signature-256"] = f"sha256={digest}"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.request(method, url, content=content, headers=headers, params=call.params)
    return response.status_code


def test_every_route_refuses_every_credential_that_must_not_open_it(server: Live) -> None:
    spec = httpx.get(server.url + "/openapi.json").json()
    served = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    public = {("GET", p) for p in PUBLIC}
    unlisted = sorted(served - set(ROUTES) - public)
    assert unlisted == [], f"routes that do not say who may call them: {unlisted}"
    ids = _ids(server)
    minted = _mint(server)
    server.clock.advance(minutes=2)
    bad_by_scope = {s: bad_credentials(server, s, minted) for s in (*HOLDERS, "github")}
    opened: list[str] = []
    # Positive controls first (except those that consume their object: confirm, revoke).
    for (method, path), call in sorted(ROUTES.items()):
        if (method, path) not in served:
            continue
        right = (
            "signed" if call.scope == "github" else f"Bearer {server.secrets[HOLDERS[call.scope]]}"
        )
        for name, header in bad_by_scope[call.scope].items():
            status = _send(server, method, path, call, ids, header)
            if 200 <= status < 300:
                opened.append(f"{method} {path} with {name}: {status}")
        if path.endswith("/confirm") or method == "DELETE":
            continue
        status = _send(server, method, path, call, ids, right)
        assert 200 <= status < 300, f"{method} {path}: the right credential got {status}"
    assert opened == []
