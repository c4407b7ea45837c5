"""Who is calling: API tokens (``store.verify_token``) and OIDC JWTs from CI, checked per scope.

``Authorization: Bearer <credential>``. A credential shaped like a JWT (three base64url parts,
header ``eyJ…``) is verified as OIDC: its issuer must be configured; the signature is checked
against the issuer's JWKS, fetched with httpx and cached by key id, refetched when an unknown
key id appears (key rotation; refetches are spaced by ``jwks_min_refetch``); then audience,
issuer, expiry and not-before. Claims map to scopes and groups by the issuer's rules. Anything
else is an API token.

Every caller is named by its principal (``clearance.model.principal``): an API token by its
owner's, an OIDC caller by the issuer's ``subject_claim`` in the issuer's ``namespace``, both
after the configured joins (``principals`` in the settings). A CI issuer's ``requester_claim``
names the person the run acts for (``Caller.on_behalf_of``): they requested its decisions.

Refusals are :class:`AuthError` (401, with the reason) or :class:`ScopeError` (403). Each refusal
is logged with the reason and the peer, never with the credential.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import jwt
from jwt import PyJWK

from clearance.errors import AuthError, InvalidPrincipalError, ScopeError
from clearance.http_client import Peer, http_client
from clearance.model.principal import PrincipalId, PrincipalMap
from clearance.server.settings import OidcIssuer, ServerSettings
from clearance.store.interface import Caller, Scope, TokenError, TokenInfo, TokenStore, parse_scopes

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Principal:
    """``sources``: the sources an ``ingest`` scope may write (None: any push source)."""

    caller: Caller
    scopes: frozenset[Scope]
    sources: frozenset[str] | None = None

    def require(self, scope: Scope) -> Caller:
        if scope not in self.scopes and Scope.ADMIN not in self.scopes:
            held = ", ".join(sorted(s.value for s in self.scopes)) or "none"
            raise ScopeError(f"{self.caller.subject} lacks the {scope.value!r} scope (has: {held})")
        return self.caller

    def may_write(self, source: str, pulled: frozenset[str]) -> str | None:
        """None when this principal may push ``source``'s signals; else why not. A source that
        ``sync`` pulls (``pulled``) is the vendor's word: only an admin may write it by push."""
        if Scope.ADMIN in self.scopes:
            return None
        if Scope.INGEST not in self.scopes:
            return f"{self.caller.subject} lacks the 'ingest' scope"
        if source in pulled:
            return (
                f"source {source!r} is pulled by sync from its platform; its signals cannot be "
                "written by push (only an admin may)"
            )
        if self.sources is not None and source not in self.sources:
            allowed = ", ".join(sorted(self.sources)) or "none"
            return f"{self.caller.subject} may not write source {source!r} (may write: {allowed})"
        return None


class JwksCache:
    """One issuer's signing keys by kid; refetched on an unknown kid, at most every N seconds."""

    def __init__(self, issuer: OidcIssuer, fetch: Callable[[str], dict[str, Any]]) -> None:
        self.issuer = issuer
        self._fetch = fetch
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> PyJWK:
        with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            wait = self.issuer.jwks_min_refetch
            if self._fetched_at is None or time.monotonic() - self._fetched_at >= wait:
                self._refresh()
            if kid not in self._keys:
                raise AuthError(f"unknown key id {kid!r} for issuer {self.issuer.issuer}")
            return self._keys[kid]

    def _refresh(self) -> None:
        document = self._fetch(self.issuer.jwks)
        keys: dict[str, PyJWK] = {}
        for item in document.get("keys", []):
            if not isinstance(item, dict) or "kid" not in item:
                continue
            try:
                keys[str(item["kid"])] = PyJWK(item)
            except jwt.PyJWTError as exc:
                logger.warning(
                    "skipping JWKS key %s of %s: %s", item.get("kid"), self.issuer.issuer, exc
                )
        self._keys = keys
        self._fetched_at = time.monotonic()


def _fetch_jwks(url: str) -> dict[str, Any]:
    try:
        with http_client(Peer.JWKS) as client:
            response = client.get(url)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        raise AuthError(f"cannot fetch the issuer's JWKS ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise AuthError("the issuer's JWKS is not a JSON object")
    return data


class Authenticator:
    def __init__(
        self,
        store: TokenStore,
        settings: ServerSettings,
        fetch: Callable[[str], dict[str, Any]] = _fetch_jwks,
    ) -> None:
        self.store = store
        self.settings = settings
        self.principals = settings.principals.build()
        self._issuers = {i.issuer: JwksCache(i, fetch) for i in settings.oidc}
        # API tokens verified in the last read_cache seconds, by the sha256 of the secret (the
        # secret itself is never kept): a revocation elsewhere is seen within that time.
        self._recent: dict[str, tuple[float, TokenInfo, Principal]] = {}
        self._recent_lock = threading.Lock()

    def remembered(self, header: str | None, now: datetime) -> Principal | None:
        """The principal of an API token verified moments ago, without I/O; else None."""
        ttl = self.settings.read_cache
        if ttl <= 0 or not header or header[:7].lower() != "bearer ":
            return None
        key = hashlib.sha256(header[7:].strip().encode()).hexdigest()
        with self._recent_lock:
            entry = self._recent.get(key)
        if entry is None:
            return None
        at, info, principal = entry
        if time.monotonic() - at >= ttl or (info.expires_at is not None and now >= info.expires_at):
            return None
        return principal

    def _remember(self, credential: str, info: TokenInfo, principal: Principal) -> None:
        if self.settings.read_cache <= 0:
            return
        key = hashlib.sha256(credential.encode()).hexdigest()
        with self._recent_lock:
            if len(self._recent) > 10_000:
                self._recent.clear()
            self._recent[key] = (time.monotonic(), info, principal)

    def authenticate(self, header: str | None, now: datetime, peer: str = "-") -> Principal:
        try:
            return self._authenticate(header, now)
        except AuthError as exc:
            logger.warning("authentication refused for %s: %s", peer, exc.reason)
            raise

    def _authenticate(self, header: str | None, now: datetime) -> Principal:
        if not header:
            raise AuthError("no credentials: send Authorization: Bearer <token>")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthError("the Authorization header must be 'Bearer <token>'")
        if credential.startswith("eyJ") and credential.count(".") == 2:
            return self._oidc(credential, now)
        try:
            info = self.store.verify_token(credential, now)
        except TokenError as exc:
            raise AuthError(f"API token {exc.reason}") from exc
        groups = tuple(sorted(self.settings.token_groups.get(info.name, ())))
        caller = Caller(
            subject=self.principals.canonical(info.principal),
            method="token",
            token_id=info.id,
            groups=groups,
        )
        principal = Principal(caller, info.scopes, info.sources)
        self._remember(credential, info, principal)
        return principal

    def identify(self, id_token: str, now: datetime, issuer: str, audience: str) -> Principal:
        """A person signed in to the console: ``id_token`` from ``issuer`` for the console's
        client (``audience``), verified and mapped to scopes and groups as an API caller's JWT
        is. AuthError when it is not acceptable."""
        try:
            principal = self._oidc(id_token, now, audience)
        except AuthError as exc:
            logger.warning("console sign-in refused: %s", exc.reason)
            raise
        if principal.caller.issuer != issuer:
            raise AuthError(f"ID token issuer {principal.caller.issuer!r} is not {issuer!r}")
        return principal

    def _oidc(self, token: str, now: datetime, audience: str | None = None) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed JWT ({exc})") from exc
        issuer_name = unverified.get("iss")
        cache = self._issuers.get(str(issuer_name))
        if cache is None:
            raise AuthError(f"JWT issuer {issuer_name!r} is not trusted")
        issuer = cache.issuer
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise AuthError("JWT header has no key id (kid)")
        key = cache.key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=issuer.algorithms,
                audience=audience or issuer.audience,
                issuer=issuer.issuer,
                leeway=issuer.leeway,
                options={"require": ["exp", "iat", "iss", "aud"], "verify_iat": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("JWT expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError(f"JWT audience is not {audience or issuer.audience!r}") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("JWT signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"JWT refused ({exc})") from exc
        # PyJWT reads the wall clock for exp; check against the service clock too (tests, skew).
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp + issuer.leeway < now.timestamp():
            raise AuthError("JWT expired")
        return _principal(issuer, claims, self.principals)


def _person(
    issuer: OidcIssuer, claims: dict[str, Any], claim: str, principals: PrincipalMap, what: str
) -> PrincipalId:
    value = claims.get(claim)
    if not isinstance(value, str) or not value:
        raise AuthError(f"JWT has no {claim!r} claim to name {what}")
    try:
        return principals.person(value, issuer.namespace)
    except InvalidPrincipalError as exc:
        raise AuthError(f"JWT claim {claim!r} cannot name {what}: {exc}") from exc


def _principal(issuer: OidcIssuer, claims: dict[str, Any], principals: PrincipalMap) -> Principal:
    subject = _person(issuer, claims, issuer.subject_claim, principals, "the caller")
    on_behalf_of = None
    if issuer.requester_claim:
        on_behalf_of = _person(
            issuer, claims, issuer.requester_claim, principals, "the person the run acts for"
        )
    scopes: set[Scope | str] = set()
    groups: set[str] = set()
    if issuer.groups_claim:
        value = claims.get(issuer.groups_claim)
        if isinstance(value, list):
            groups.update(str(g) for g in value)
    for rule in issuer.rules:
        if all(
            isinstance(claims.get(name), str) and fnmatch.fnmatchcase(claims[name], pattern)
            for name, pattern in rule.claims.items()
        ):
            scopes.update(rule.scopes)
            groups.update(rule.groups)
    caller = Caller(
        subject=subject,
        method="oidc",
        issuer=issuer.issuer,
        groups=tuple(sorted(groups)),
        on_behalf_of=on_behalf_of,
    )
    held, sources = parse_scopes(scopes)
    return Principal(caller, held, sources)
