"""Who is signed in to the console: a signed, timed cookie, and the CSRF token of its forms.

The cookie holds the person as the API would name them (principal, issuer, groups, scopes,
as the issuer's rules mapped their ID token) and a random CSRF token, signed with the
console's ``session_secret`` (itsdangerous): a tampered or expired cookie reads as signed out.
It is ``Secure``, ``HttpOnly`` and ``SameSite=Lax`` (Lax, not Strict, so that following a
decision link from GitHub or Slack arrives signed in; every form carries the CSRF token, so a
cross-site POST is refused whatever cookies it brings).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

from clearance.store.interface import Caller, Scope

SESSION_COOKIE = "clearance_session"
LOGIN_COOKIE = "clearance_login"  # state, nonce and PKCE verifier of a sign-in under way
LOGIN_LIFETIME = 600  # seconds a person has to finish signing in at the issuer


@dataclass(frozen=True, slots=True)
class Session:
    subject: str
    issuer: str
    groups: tuple[str, ...]
    scopes: frozenset[Scope]
    csrf: str
    name: str | None = None  # the display name from the ID token, shown only

    @property
    def caller(self) -> Caller:
        """The caller the service functions see: as an OIDC API caller with the same claims."""
        return Caller(subject=self.subject, method="oidc", issuer=self.issuer, groups=self.groups)

    @property
    def approver(self) -> bool:
        return bool({Scope.APPROVE, Scope.ADMIN} & self.scopes)

    @property
    def viewer(self) -> bool:
        return self.approver or Scope.DECIDE in self.scopes

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf, sent or "")


class Cookies:
    """Signs and reads the console's cookies; one salt per cookie so neither passes for the
    other."""

    def __init__(self, secret: str, lifetime: int) -> None:
        self.lifetime = lifetime
        self._session = URLSafeTimedSerializer(secret, salt="clearance.console.session")
        self._login = URLSafeTimedSerializer(secret, salt="clearance.console.login")

    def session(
        self, subject: str, issuer: str, groups: tuple[str, ...], scopes: frozenset[Scope],
        name: str | None,
    ) -> tuple[Session, str]:  # fmt: skip
        made = Session(subject, issuer, groups, scopes, secrets.token_urlsafe(32), name)
        value = self._session.dumps(
            {
                "sub": subject,
                "iss": issuer,
                "groups": list(groups),
                "scopes": sorted(s.value for s in scopes),
                "csrf": made.csrf,
                "name": name,
            }
        )
        return made, value

    def read_session(self, value: str | None) -> Session | None:
        data = _loads(self._session, value, self.lifetime)
        if data is None:
            return None
        try:
            return Session(
                subject=str(data["sub"]),
                issuer=str(data["iss"]),
                groups=tuple(str(g) for g in data["groups"]),
                scopes=frozenset(Scope(s) for s in data["scopes"]),
                csrf=str(data["csrf"]),
                name=None if data.get("name") is None else str(data["name"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def login(self, state: str, nonce: str, verifier: str, after: str) -> str:
        return self._login.dumps(
            {"state": state, "nonce": nonce, "verifier": verifier, "next": after}
        )

    def read_login(self, value: str | None) -> dict[str, str] | None:
        data = _loads(self._login, value, LOGIN_LIFETIME)
        if data is None or not all(
            isinstance(data.get(k), str) for k in ("state", "nonce", "verifier", "next")
        ):
            return None
        return {k: str(data[k]) for k in ("state", "nonce", "verifier", "next")}


def _loads(
    serializer: URLSafeTimedSerializer, value: str | None, max_age: int
) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        data = serializer.loads(value, max_age=max_age)
    except BadSignature:  # SignatureExpired is one too
        return None
    return data if isinstance(data, dict) else None


def cookie_options(max_age: int | None) -> dict[str, Any]:
    return {"max_age": max_age, "httponly": True, "secure": True, "samesite": "lax", "path": "/"}


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this console only (no open redirect). Browsers
    drop tabs and newlines from URLs and read a backslash as ``/``, so ``/<tab>/evil`` would
    leave the site: any control character, space or backslash sends to the queue instead."""
    fallback = "/console/queue"
    if not value or not value.startswith("/") or value.startswith("//"):
        return fallback
    if "\\" in value or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return fallback
    parts = urlsplit(value)
    return fallback if parts.scheme or parts.netloc else value
