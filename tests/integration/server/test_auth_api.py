"""Who may call: API tokens with scopes, and OIDC JWTs verified against a loopback JWKS."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from server_harness import Live, Receiver

ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "https://github.com/acme"
TARGET = {
    "environment": "production",
    "cluster": "prod-eu",
    "namespace": "shop",
    "workload": "deployment/clean",
}


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**data, "kid": kid, "use": "sig", "alg": "RS256"}


def _token(key: rsa.RSAPrivateKey, kid: str, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "sub": "repo:acme/shop:ref:refs/heads/main",
        "repository": "acme/shop",
        "ref": "refs/heads/main",
        "actor": "octocat",
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def oidc(live: Callable[..., Live], receiver: Receiver) -> tuple[Live, Receiver]:
    server = live(
        oidc=[
            {
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "jwks_url": receiver.url + "/jwks",
                "subject_claim": "actor",
                "jwks_min_refetch": 0,
                "rules": [
                    {
                        "claims": {"repository": "acme/shop", "ref": "refs/heads/*"},
                        "scopes": ["decide"],
                    }
                ],
            }
        ]
    )
    return server, receiver


def test_no_credentials_is_401_before_the_body_is_read(live: Callable[..., Live]) -> None:
    server = live()
    with server.client() as c:
        response = c.post("/v1/decisions", json={"not": "a target"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_wrong_scope_is_403_and_unknown_token_401(live: Callable[..., Live]) -> None:
    server = live()
    with server.client("feeder") as c:
        assert c.post("/v1/decisions", json=TARGET).status_code == 403
    with server.client(token="clr_not-a-real-token") as c:
        refused = c.post("/v1/decisions", json=TARGET)
    assert refused.status_code == 401
    assert "unknown" in refused.json()["detail"]


def test_revoked_token_is_refused(live: Callable[..., Live]) -> None:
    server = live()
    info = next(t for t in server.ctx.store.list_tokens() if t.name == "ci")
    server.ctx.store.revoke_token(info.id, server.clock.now)
    with server.client("ci") as c:
        assert c.post("/v1/decisions", json=TARGET).status_code == 401


def test_oidc_token_signed_by_the_issuer_is_accepted(oidc: tuple[Live, Receiver]) -> None:
    server, jwks = oidc
    key = _key()
    jwks.document = {"keys": [_jwk(key, "k1")]}
    with server.client(token=_token(key, "k1")) as c:
        response = c.post("/v1/decisions", json=TARGET)
    assert response.status_code == 200, response.text
    assert response.json()["requested_by"] == "user:octocat"
    record = server.ctx.store.get_decision(response.json()["id"])
    assert record.caller == {"subject": "user:octocat", "method": "oidc", "issuer": ISSUER}


def test_key_rotation_is_followed(oidc: tuple[Live, Receiver]) -> None:
    server, jwks = oidc
    old, new = _key(), _key()
    jwks.document = {"keys": [_jwk(old, "k1")]}
    with server.client(token=_token(old, "k1")) as c:
        assert c.post("/v1/decisions", json=TARGET).status_code == 200
    jwks.document = {"keys": [_jwk(new, "k2")]}  # the issuer rotated
    with server.client(token=_token(new, "k2")) as c:
        assert c.post("/v1/decisions", json=TARGET).status_code == 200


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        ("other-key", "signature"),
        ("unknown-kid", "unknown key id"),
        ("expired", "expired"),
        ("audience", "audience"),
        ("issuer", "not trusted"),
        ("malformed", "malformed"),
    ],
)
def test_forged_or_wrong_tokens_are_401_with_the_reason_and_never_logged(
    oidc: tuple[Live, Receiver], caplog: pytest.LogCaptureFixture, forge: str, reason: str
) -> None:
    server, jwks = oidc
    key = _key()
    jwks.document = {"keys": [_jwk(key, "k1")]}
    token = {
        "other-key": lambda: _token(_key(), "k1"),
        "unknown-kid": lambda: _token(key, "k9"),
        "expired": lambda: _token(
            key, "k1", exp=int(time.time()) - 3600, iat=int(time.time()) - 7200
        ),
        "audience": lambda: _token(key, "k1", aud="https://github.com/evil"),
        "issuer": lambda: _token(key, "k1", iss="https://evil.example"),
        "malformed": lambda: (
            "eyJhbGciOiJSUzI1NiJ9." + base64.urlsafe_b64encode(b"{nope").decode() + ".x"
        ),
    }[forge]()
    with caplog.at_level(logging.WARNING, logger="clearance"), server.client(token=token) as c:
        response = c.post("/v1/decisions", json=TARGET)
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert any(reason in r.getMessage() for r in caplog.records)
    assert token not in caplog.text
    assert token.split(".")[2] not in response.text


def test_oidc_claims_outside_the_rules_get_no_scope(oidc: tuple[Live, Receiver]) -> None:
    server, jwks = oidc
    key = _key()
    jwks.document = {"keys": [_jwk(key, "k1")]}
    with server.client(token=_token(key, "k1", repository="acme/other")) as c:
        assert c.post("/v1/decisions", json=TARGET).status_code == 403


def test_a_revocation_applies_once_the_token_cache_ages(live: Callable[..., Live]) -> None:
    server = live(read_cache=0)
    with server.client("ci") as c:
        assert c.post("/v1/decisions", json=TARGET).status_code == 200
        info = next(t for t in server.ctx.store.list_tokens() if t.name == "ci")
        server.ctx.store.revoke_token(info.id, server.clock.now)  # e.g. `clearance tokens revoke`
        refused = c.post("/v1/decisions", json=TARGET)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
