"""API tokens: random secrets shown once, kept only as sha256 hashes.

A token is ``clr_`` followed by 256 random bits (URL-safe base64): the prefix lets secret
scanners recognize a leaked one. A secret of that strength needs no slow password hash; the
sha256 of it is looked up through a unique index, so verification costs one indexed read.

Every token has an owner, a principal (``user:alice``): the person the service records as the
caller, whichever of their tokens they use. Tokens made before owners existed have none stored
and are owned by the person their name names.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Row

from clearance.errors import InvalidPrincipalError
from clearance.store import tables as t
from clearance.store.interface import (
    ConflictError,
    NotFoundError,
    Scope,
    StoreError,
    TokenError,
    TokenId,
    TokenInfo,
    token_owner,
)

TOKEN_PREFIX = "clr_"  # noqa: S105 - a public marker, not a secret
# last_used_at is a hint for humans, not an audit trail: refresh it at most this often so that
# verifying a token on every request does not turn every request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _info(row: Row[Any]) -> TokenInfo:
    return TokenInfo(
        id=TokenId(row.id),
        name=row.name,
        scopes=frozenset(Scope(s) for s in row.scopes.split()),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        owner=row.owner,
    )


def create(
    conn: Connection,
    name: str,
    scopes: Iterable[Scope],
    now: datetime,
    expires_at: datetime | None,
    owner: str | None = None,
) -> tuple[TokenInfo, str]:
    try:
        wanted = frozenset(Scope(s) for s in scopes)
    except ValueError as exc:
        known = ", ".join(s.value for s in Scope)
        raise StoreError(f"token {name!r}: {exc} (scopes are {known})") from exc
    if not name.strip():
        raise StoreError("a token needs a name (who or what uses it)")
    if not wanted:
        raise StoreError(f"token {name!r} needs at least one scope: decide, approve, admin, ingest")
    if expires_at is not None and expires_at <= now:
        raise StoreError(f"token {name!r} would expire before it is created")
    try:
        principal = token_owner(owner, name)
    except InvalidPrincipalError as exc:
        raise StoreError(f"token {name!r}: its owner cannot be a principal: {exc}") from exc
    taken = conn.execute(select(t.api_tokens.c.id).where(t.api_tokens.c.name == name)).first()
    if taken is not None:
        raise ConflictError(f"a token named {name!r} exists; revoke it or choose another name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = TokenId("tok_" + secrets.token_hex(8))
    conn.execute(
        t.api_tokens.insert().values(
            id=token_id,
            name=name,
            hash=token_hash(secret),
            scopes=" ".join(sorted(s.value for s in wanted)),
            created_at=now,
            expires_at=expires_at,
            owner=principal,
        )
    )
    info = TokenInfo(
        id=token_id,
        name=name,
        scopes=wanted,
        created_at=now,
        expires_at=expires_at,
        owner=principal,
    )
    return info, secret


def lookup(conn: Connection, secret: str, now: datetime) -> tuple[TokenInfo, bool]:
    """The token's info (refused with TokenError), and whether last_used_at needs a refresh."""
    row = conn.execute(
        select(t.api_tokens).where(t.api_tokens.c.hash == token_hash(secret))
    ).first()
    if row is None:
        raise TokenError("unknown", "unknown API token")
    info = _info(row)
    if info.revoked_at is not None:
        raise TokenError("revoked", f"API token {info.name!r} ({info.id}) was revoked")
    if info.expires_at is not None and info.expires_at <= now:
        raise TokenError("expired", f"API token {info.name!r} ({info.id}) has expired")
    stale = info.last_used_at is None or now - info.last_used_at >= LAST_USED_RESOLUTION
    return info, stale


def touch(conn: Connection, token_id: str, now: datetime) -> None:
    conn.execute(update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(last_used_at=now))


def list_all(conn: Connection) -> tuple[TokenInfo, ...]:
    rows = conn.execute(select(t.api_tokens).order_by(t.api_tokens.c.name)).all()
    return tuple(_info(r) for r in rows)


def revoke(conn: Connection, token_id: str, now: datetime) -> TokenInfo:
    row = conn.execute(select(t.api_tokens).where(t.api_tokens.c.id == token_id)).first()
    if row is None:
        raise NotFoundError(f"no API token with id {token_id!r}")
    if row.revoked_at is None:
        conn.execute(
            update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(revoked_at=now)
        )
    return _info(conn.execute(select(t.api_tokens).where(t.api_tokens.c.id == token_id)).one())
