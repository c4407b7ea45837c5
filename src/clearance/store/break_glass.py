"""Break-glass grants: who forced a deploy through, why, under which ticket, until when, for
which artifact. A confirmation is one conditional UPDATE, so of concurrent confirmers exactly
one wins (on SQLite and PostgreSQL alike) and the others are told it was taken."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Row

from clearance.model.artifact import Artifact
from clearance.model.principal import recorded
from clearance.store import tables as t
from clearance.store.interface import BreakGlass, ConflictError, NotFoundError, StoreError

_T = t.break_glass


def _grant(row: Row[Any]) -> BreakGlass:
    return BreakGlass(
        id=row.id,
        environment=row.environment,
        target_key=row.target_key,
        reason=row.reason,
        ticket=row.ticket,
        requested_by=row.requested_by,
        at=row.at,
        expires_at=row.expires_at,
        decision_id=row.decision_id,
        confirmed_by=row.confirmed_by,
        confirmed_at=row.confirmed_at,
        revoked_at=row.revoked_at,
        notified_at=row.notified_at,
        artifact=Artifact.stored(row.artifact_images, row.artifact_commit),
    )


def _get(conn: Connection, grant_id: str) -> BreakGlass:
    row = conn.execute(select(_T).where(_T.c.id == grant_id)).first()
    if row is None:
        raise NotFoundError(f"no break-glass with id {grant_id!r}")
    return _grant(row)


def add(conn: Connection, grant: BreakGlass) -> None:
    if not grant.reason.strip() or not grant.ticket.strip():
        raise StoreError(f"break-glass {grant.id!r} needs a reason and a ticket")
    if grant.expires_at <= grant.at:
        raise StoreError(f"break-glass {grant.id!r} would expire before it starts")
    if conn.execute(select(_T.c.id).where(_T.c.id == grant.id)).first() is not None:
        raise ConflictError(f"a break-glass with id {grant.id!r} exists")
    conn.execute(
        _T.insert().values(
            id=grant.id,
            environment=grant.environment,
            target_key=grant.target_key,
            reason=grant.reason,
            ticket=grant.ticket,
            requested_by=grant.requested_by,
            at=grant.at,
            expires_at=grant.expires_at,
            decision_id=grant.decision_id,
            confirmed_by=grant.confirmed_by,
            confirmed_at=grant.confirmed_at,
            artifact_images=None if grant.artifact is None else grant.artifact.images_json(),
            artifact_commit=None if grant.artifact is None else grant.artifact.commit,
        )
    )


def confirm(conn: Connection, grant_id: str, by: str, now: datetime) -> BreakGlass:
    """Confirm once: the UPDATE applies only while the grant is unconfirmed, unrevoked and
    unexpired, so whoever's UPDATE lands second finds it taken (ConflictError)."""
    grant = _get(conn, grant_id)
    if recorded(by) == recorded(grant.requested_by):
        raise ConflictError(
            f"break-glass {grant_id!r} was requested by {by}; a second person must confirm it"
        )
    taken = conn.execute(
        update(_T)
        .where(
            _T.c.id == grant_id,
            _T.c.confirmed_by.is_(None),
            _T.c.revoked_at.is_(None),
            _T.c.expires_at > now,
        )
        .values(confirmed_by=by, confirmed_at=now)
    )
    if taken.rowcount != 1:
        current = _get(conn, grant_id)
        if current.confirmed_by is not None:
            why = f"was confirmed already by {current.confirmed_by}"
        elif current.revoked_at is not None:
            why = "was revoked"
        else:
            why = "has expired"
        raise ConflictError(f"break-glass {grant_id!r} {why}; it cannot be confirmed again")
    return _get(conn, grant_id)


def mark(conn: Connection, grant_id: str, column: str, now: datetime) -> BreakGlass:
    """Set ``notified_at`` or ``revoked_at`` once; later calls keep the first time."""
    grant = _get(conn, grant_id)
    if getattr(grant, column) is None:
        conn.execute(update(_T).where(_T.c.id == grant_id).values({column: now}))
        grant = _get(conn, grant_id)
    return grant


def listing(
    conn: Connection, now: datetime, target_key: str | None, include_expired: bool
) -> tuple[BreakGlass, ...]:
    query = select(_T).order_by(_T.c.at, _T.c.id)
    if target_key is not None:
        query = query.where(_T.c.target_key == target_key)
    if not include_expired:
        query = query.where(_T.c.revoked_at.is_(None), _T.c.expires_at > now)
    return tuple(_grant(row) for row in conn.execute(query))
