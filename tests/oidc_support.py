"""OIDC issuers for tests: an RSA key, its JWKS entry, and signed JWTs with chosen claims.

Serve ``jwks([...])`` from a loopback :class:`server_harness.Receiver` (its ``document``) and
point the service's ``oidc[].jwks_url`` at it: the service verifies these tokens exactly as it
verifies a CI's.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass
class Issuer:
    url: str
    audience: str
    kid: str
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": self.audience, "iat": now, "nbf": now, "exp": now + 300}
        return jwt.encode(
            {**body, **claims}, self.key, algorithm="RS256", headers={"kid": self.kid}
        )

    def settings(self, jwks_url: str, **extra: Any) -> dict[str, Any]:
        """This issuer's entry in the service's ``oidc`` settings."""
        return {
            "issuer": self.url,
            "audience": self.audience,
            "jwks_url": jwks_url,
            "jwks_min_refetch": 0,
            **extra,
        }


def jwks(*issuers: Issuer) -> dict[str, Any]:
    return {"keys": [i.jwk() for i in issuers]}
