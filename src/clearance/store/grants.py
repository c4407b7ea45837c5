"""Approvals and run-time exceptions: what people granted, with who, when and why."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Row

from clearance.model.artifact import Artifact
from clearance.model.exemptions import Exemption
from clearance.model.principal import recorded
from clearance.store import tables as t
from clearance.store.interface import (
    Approval,
    ApprovalOutcome,
    ConflictError,
    ExemptionRecord,
    NotFoundError,
    TargetApproval,
)


def add_approval(conn: Connection, approval: Approval) -> None:
    """One answer per principal per decision: ``approval.approver`` read as a principal
    (``token:alice`` and ``Alice`` are ``user:alice``), and the unique constraint on it holds
    against concurrent answers too."""
    who = recorded(approval.approver)
    known = conn.execute(
        select(t.decisions.c.seq).where(t.decisions.c.decision_id == approval.decision_id)
    ).first()
    if known is None:
        raise NotFoundError(f"no decision with id {approval.decision_id!r}")
    answered = conn.execute(
        select(t.approvals.c.id).where(
            t.approvals.c.decision_id == approval.decision_id,
            t.approvals.c.principal == who,
        )
    ).first()
    if answered is not None:
        raise ConflictError(f"{who} already answered decision {approval.decision_id!r}")
    artifact = approval.artifact
    conn.execute(
        t.approvals.insert().values(
            id=approval.id,
            decision_id=approval.decision_id,
            approver=approval.approver,
            outcome=approval.outcome.value,
            reason=approval.reason,
            at=approval.at,
            expires_at=approval.expires_at,
            score=approval.score,
            signals=json.dumps(list(approval.signals)),
            groups=json.dumps(list(approval.groups)),
            principal=who,
            artifact_images=None if artifact is None else artifact.images_json(),
            artifact_commit=None if artifact is None else artifact.commit,
        )
    )


def list_approvals(conn: Connection, decision_id: str) -> tuple[Approval, ...]:
    rows = conn.execute(
        select(t.approvals)
        .where(t.approvals.c.decision_id == decision_id)
        .order_by(t.approvals.c.at, t.approvals.c.id)
    ).all()
    return tuple(approval_from_row(r) for r in rows)


def target_approvals(
    conn: Connection, environment: str, target_key: str, since: datetime
) -> list[TargetApproval]:
    """Approvals on the target's decisions at or after ``since``, oldest first: one query joining
    approvals to the decision log's indexed filter columns (``target_key``, ``environment``,
    ``at``) rather than one per earlier decision."""
    a, d = t.approvals, t.decisions
    query = (
        select(a, d.c.at.label("decision_at"), d.c.seq.label("decision_seq"))
        .join(d, d.c.decision_id == a.c.decision_id)
        .where(d.c.target_key == target_key, d.c.environment == environment, d.c.at >= since)
        .order_by(a.c.at, a.c.id)
    )
    rows = conn.execute(query).all()
    return [TargetApproval(approval_from_row(r), r.decision_at, int(r.decision_seq)) for r in rows]


def approval_from_row(r: Any) -> Approval:
    """An approvals-table row (or any row with its columns) as an Approval."""
    return Approval(
        id=r.id,
        decision_id=r.decision_id,
        approver=r.approver,
        outcome=ApprovalOutcome(r.outcome),
        reason=r.reason,
        at=r.at,
        expires_at=r.expires_at,
        score=float(r.score),
        signals=tuple(json.loads(r.signals)),
        groups=tuple(json.loads(r.groups)),
        artifact=Artifact.stored(r.artifact_images, r.artifact_commit),
    )


def add_exemption(conn: Connection, exemption: Exemption, now: datetime) -> ExemptionRecord:
    known = conn.execute(select(t.exemptions.c.id).where(t.exemptions.c.id == exemption.id)).first()
    if known is not None:
        raise ConflictError(f"an exception with id {exemption.id!r} exists")
    values: dict[str, Any] = {
        "id": exemption.id,
        "signal": exemption.signal,
        "rule": exemption.rule,
        "environment": exemption.environment,
        "cluster": exemption.cluster,
        "namespace": exemption.namespace,
        "workload": exemption.workload,
        "expires": exemption.expires,
        "reason": exemption.reason,
        "ticket": exemption.ticket,
        "approver": exemption.approver,
        "created_by": exemption.created_by,
        "created_at": now,
    }
    conn.execute(t.exemptions.insert().values(values))
    return ExemptionRecord(exemption=exemption, created_at=now)


def _exemption(row: Row[Any]) -> ExemptionRecord:
    return ExemptionRecord(
        exemption=Exemption(
            id=row.id,
            signal=row.signal,
            rule=row.rule,
            environment=row.environment,
            cluster=row.cluster,
            namespace=row.namespace,
            workload=row.workload,
            expires=row.expires,
            reason=row.reason,
            ticket=row.ticket,
            approver=row.approver,
            created_by=row.created_by,
        ),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )


def list_exemptions(
    conn: Connection, now: datetime, include_inactive: bool
) -> tuple[ExemptionRecord, ...]:
    query = select(t.exemptions).order_by(t.exemptions.c.id)
    if not include_inactive:
        query = query.where(t.exemptions.c.revoked_at.is_(None), t.exemptions.c.expires > now)
    return tuple(_exemption(row) for row in conn.execute(query))


def revoke_exemption(
    conn: Connection, exemption_id: str, by: str, now: datetime
) -> ExemptionRecord:
    row = conn.execute(select(t.exemptions).where(t.exemptions.c.id == exemption_id)).first()
    if row is None:
        raise NotFoundError(f"no exception with id {exemption_id!r}")
    if row.revoked_at is not None:  # revoking twice keeps the first revocation on record
        return _exemption(row)
    conn.execute(
        update(t.exemptions)
        .where(t.exemptions.c.id == exemption_id)
        .values(revoked_at=now, revoked_by=by)
    )
    revoked = conn.execute(select(t.exemptions).where(t.exemptions.c.id == exemption_id)).one()
    return _exemption(revoked)
