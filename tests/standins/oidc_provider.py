"""A stand-in OpenID Provider: discovery, JWKS, an authorization endpoint with a sign-in form,
and a token endpoint that checks PKCE.

Wire format from OpenID Connect Core 1.0 and Discovery 1.0, RFC 6749 (authorization code) and
RFC 7636 (PKCE, S256 only, as the console sends it):

    GET  /.well-known/openid-configuration     the discovery document
    GET  /.well-known/jwks                     {"keys": [JWK]}
    GET  /authorize?response_type=code&client_id&redirect_uri&scope&state&nonce
         &code_challenge&code_challenge_method=S256        → an HTML sign-in form
    POST /authorize (username + the request)   → 302 redirect_uri?code=…&state=…
    POST /token  grant_type=authorization_code&code&redirect_uri&code_verifier[&client_id]
                 → {"access_token", "token_type": "Bearer", "expires_in", "id_token"}

Errors are RFC 6749's: a bad authorization request whose redirect URI cannot be trusted is a
400 page (never a redirect); a bad token request is 400 ``{"error": "invalid_grant" | …}``.
A code is single use and bound to its client, redirect URI and code challenge. The person
"signs in" by typing a username the state knows; their claims go into the ID token.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jwt

from oidc_support import Issuer
from standins._server import Reply, Scripted, StandInHandler


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    username: str


@dataclass
class OidcProviderState:
    """``issuer.url`` is set once the stand-in knows its port (:func:`start_provider`)."""

    issuer: Issuer
    clients: dict[str, set[str]]  # client id → registered redirect URIs (public clients)
    users: dict[str, dict[str, Any]]  # username → claims of their ID token
    codes: dict[str, Grant] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # token errors given, for assertions
    lock: threading.Lock = field(default_factory=threading.Lock)
    scripted: Scripted = field(default_factory=Scripted)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcProviderHandler(StandInHandler):
    state: ClassVar[OidcProviderState]

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.record()
        base = self.state.issuer.url
        if self.path_only == "/.well-known/openid-configuration":
            self.send_json(
                200,
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/token",
                    "jwks_uri": f"{base}/.well-known/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["none"],
                    "scopes_supported": ["openid", "profile", "email"],
                    "grant_types_supported": ["authorization_code"],
                },
            )
        elif self.path_only == "/.well-known/jwks":
            self.send_json(200, {"keys": [self.state.issuer.jwk()]})
        elif self.path_only == "/authorize":
            self._authorize_form(self.query)
        else:
            self.send_json(404, {"error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802
        self.record()
        if self.path_only == "/authorize":
            self._authorize(self.form_body())
        elif self.path_only == "/token":
            self._token(self.form_body())
        else:
            self.send_json(404, {"error": "not_found"})

    def _page(self, status: int, body: str) -> None:
        self.send(Reply(status, body.encode(), {"Content-Type": "text/html; charset=utf-8"}))

    def _check_request(self, params: dict[str, str]) -> str | None:
        """Why the authorization request is refused (shown, never redirected), or None."""
        uris = self.state.clients.get(params.get("client_id", ""))
        if uris is None:
            return "unknown client_id"
        if params.get("redirect_uri") not in uris:
            return "redirect_uri is not registered for this client"
        if params.get("response_type") != "code":
            return "response_type must be code"
        if "openid" not in params.get("scope", "").split():
            return "scope must include openid"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "PKCE is required: code_challenge with code_challenge_method=S256"
        return None

    def _authorize_form(self, params: dict[str, str]) -> None:
        problem = self._check_request(params)
        if problem is not None:
            self._page(400, f"<h1>Bad request</h1><p>{html.escape(problem)}</p>")
            return
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
        )
        self._page(
            200,
            "<!doctype html><title>Sign in</title><h1>Stand-in identity provider</h1>"
            f'<form method="post" action="/authorize">{hidden}'
            '<label for="username">Username</label> <input id="username" name="username">'
            '<button type="submit">Sign in</button></form>',
        )

    def _authorize(self, params: dict[str, str]) -> None:
        problem = self._check_request(params)
        if problem is not None:
            self._page(400, f"<h1>Bad request</h1><p>{html.escape(problem)}</p>")
            return
        redirect = params["redirect_uri"]
        answer: dict[str, str] = {}
        if params.get("state"):
            answer["state"] = params["state"]
        if params.get("username") not in self.state.users:
            answer["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            with self.state.lock:
                self.state.codes[code] = Grant(
                    params["client_id"],
                    redirect,
                    params["code_challenge"],
                    params.get("nonce"),
                    params["username"],
                )
            answer["code"] = code
        self.send(Reply(302, b"", {"Location": f"{redirect}?{urllib.parse.urlencode(answer)}"}))

    def _token_error(self, error: str, description: str) -> None:
        with self.state.lock:
            self.state.refused.append(error)
        self.send_json(
            400,
            {"error": error, "error_description": description},
            {"Cache-Control": "no-store"},
        )

    def _token(self, params: dict[str, str]) -> None:
        if params.get("grant_type") != "authorization_code":
            self._token_error("unsupported_grant_type", "only authorization_code")
            return
        with self.state.lock:
            grant = self.state.codes.pop(params.get("code", ""), None)  # single use
        if grant is None:
            self._token_error("invalid_grant", "unknown or already used code")
            return
        if params.get("client_id", grant.client_id) != grant.client_id:
            self._token_error("invalid_client", "the code was issued to another client")
            return
        if params.get("redirect_uri") != grant.redirect_uri:
            self._token_error("invalid_grant", "redirect_uri differs from the authorization's")
            return
        verifier = params.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128 or s256(verifier) != grant.challenge:
            self._token_error("invalid_grant", "PKCE verification failed")
            return
        claims = dict(self.state.users[grant.username])
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        issuer = self.state.issuer
        now = int(time.time())
        id_token = jwt.encode(
            {"iss": issuer.url, "aud": grant.client_id, "iat": now, "exp": now + 600, **claims},
            issuer.key,
            algorithm="RS256",
            headers={"kid": issuer.kid},
        )
        self.send_json(
            200,
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 600,
                "id_token": id_token,
            },
            {"Cache-Control": "no-store"},
        )
