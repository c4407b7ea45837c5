"""Signing a person in: OIDC authorization code with PKCE (S256), with authlib's OAuth 2 client.

``start`` makes the state, nonce and code verifier (kept in a short-lived signed cookie, never
on the server, so any replica can finish the sign-in) and the issuer's authorization URL;
``finish`` checks the state, redeems the code with the verifier, and verifies the ID token with
the same JWKS cache and claim rules as the API (:meth:`Authenticator.identify`), then its nonce.
The issuer's endpoints come from its discovery document, read once.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import jwt
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import OAuth2Client

from clearance.errors import AuthError, SignInError
from clearance.server.auth import Authenticator, Principal
from clearance.server.settings import ConsoleSettings

CALLBACK = "/console/callback"


@dataclass(frozen=True, slots=True)
class Started:
    url: str  # the issuer's authorization endpoint, with the request
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    principal: Principal
    name: str | None


class LoginFlow:
    def __init__(self, settings: ConsoleSettings, auth: Authenticator) -> None:
        self.settings = settings
        self.auth = auth
        self.redirect_uri = settings.url.rstrip("/") + CALLBACK
        self._endpoints: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def endpoints(self) -> dict[str, Any]:
        with self._lock:
            if self._endpoints is None:
                url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
                try:
                    reply = httpx.get(url, timeout=5.0)
                    reply.raise_for_status()
                    document = reply.json()
                except (httpx.HTTPError, ValueError) as exc:
                    raise SignInError(
                        f"cannot read the issuer's discovery document ({type(exc).__name__})"
                    ) from exc
                for key in ("authorization_endpoint", "token_endpoint"):
                    if not isinstance(document.get(key), str):
                        raise SignInError(f"the issuer's discovery document has no {key}")
                self._endpoints = document
            return self._endpoints

    def _client(self) -> OAuth2Client:
        secret = self.settings.client_secret
        return OAuth2Client(
            client_id=self.settings.client_id,
            client_secret=secret.get_secret_value() if secret else None,
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=" ".join(self.settings.scopes),
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=10.0,
        )

    def start(self) -> Started:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(64)  # 86 characters: within RFC 7636's 43..128
        with self._client() as client:
            url, _ = client.create_authorization_url(
                self.endpoints()["authorization_endpoint"],
                state=state,
                code_verifier=verifier,
                nonce=nonce,
            )
        return Started(url, state, nonce, verifier)

    def finish(self, code: str, state: str, login: dict[str, str], now: datetime) -> SignedIn:
        if not secrets.compare_digest(state, login["state"]):
            raise SignInError("the sign-in's state does not match this browser's: start again")
        try:
            with self._client() as client:
                token = client.fetch_token(
                    self.endpoints()["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=login["verifier"],
                )
        except AuthlibBaseError as exc:  # the issuer's error answer (invalid_grant, …)
            raise SignInError(f"the issuer refused the code: {exc.error}") from exc
        except httpx.HTTPError as exc:
            raise SignInError(
                f"cannot reach the issuer's token endpoint ({type(exc).__name__})"
            ) from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError("the issuer answered without an ID token (is 'openid' in scopes?)")
        try:
            principal = self.auth.identify(
                id_token, now, self.settings.issuer, self.settings.client_id
            )
        except AuthError as exc:
            raise SignInError(f"the ID token was refused: {exc.reason}") from exc
        claims = _unverified_claims(id_token)  # verified just above
        if not secrets.compare_digest(str(claims.get("nonce", "")), login["nonce"]):
            raise SignInError("the ID token's nonce does not match this sign-in: start again")
        name = claims.get("name") or claims.get("email")
        return SignedIn(principal, str(name) if name else None)


def _unverified_claims(token: str) -> dict[str, Any]:

    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims
