"""Principals and artifacts: approvals unique per canonical principal and bound to the
decision's images and commit; break-glass bound to them too; API tokens with an owner; signed
webhook deliveries remembered so a replay is refused.

Approvals stored before this revision get their principal from the approver as recorded (an API
token ``token:alice`` and an OIDC ``Alice`` are both ``user:alice``). Where one person answered
one decision under two names, the later answer keeps a NULL principal (the constraint ignores
it; the service tallies it under the same person, so it never counts twice). Their artifact is
NULL: they count only for the decision they were given on.

Revision ID: 0006
Revises: 0005 (the audit chain, which landed first; 0007 before it)
Create Date: 2026-11-30
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
NAME = sa.String(200)
_NAMESPACE = re.compile(r"^[a-z][a-z0-9.-]{0,62}$")


def _principal(approver: str) -> str:
    """``clearance.model.principal.recorded`` as of this revision (kept here: a migration must
    not change when the code does)."""
    namespace, sep, name = approver.partition(":")
    if not sep or namespace == "token" or not _NAMESPACE.match(namespace):
        namespace, name = "user", (name if sep and namespace == "token" else approver)
    return f"{namespace}:{unicodedata.normalize('NFKC', name).casefold().strip()}"[:200]


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("principal", NAME))
        batch.add_column(sa.Column("artifact_images", sa.Text))
        batch.add_column(sa.Column("artifact_commit", NAME))
    approvals = sa.table(
        "approvals",
        sa.column("id", sa.String),
        sa.column("decision_id", sa.String),
        sa.column("approver", sa.String),
        sa.column("at", TIME),
        sa.column("principal", sa.String),
    )
    conn = op.get_bind()
    seen: set[tuple[str, str]] = set()
    rows = conn.execute(
        sa.select(approvals.c.id, approvals.c.decision_id, approvals.c.approver).order_by(
            approvals.c.at, approvals.c.id
        )
    ).all()
    for row in rows:
        key = (row.decision_id, _principal(row.approver))
        if key in seen:
            continue  # a second answer by one person under another name: left NULL
        seen.add(key)
        conn.execute(sa.update(approvals).where(approvals.c.id == row.id).values(principal=key[1]))
    with op.batch_alter_table("approvals") as batch:
        batch.drop_constraint("uq_approvals_decision_approver", type_="unique")
        batch.create_unique_constraint(
            "uq_approvals_decision_principal", ["decision_id", "principal"]
        )
    with op.batch_alter_table("break_glass") as batch:
        batch.add_column(sa.Column("artifact_images", sa.Text))
        batch.add_column(sa.Column("artifact_commit", NAME))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("owner", NAME))
    op.create_table(
        "webhook_deliveries",
        sa.Column("integration", sa.String(50), primary_key=True),
        sa.Column("delivery_id", sa.String(200), primary_key=True),
        sa.Column("received_at", TIME, nullable=False),
    )
    # Approvals, grants and tokens changed shape (principal, artifact, owner): record them again
    # as they now are, so `audit verify` compares the tables with records of the same shape.
    from clearance.store.events import adopt_all  # noqa: PLC0415 - the chain's own sealing

    adopt_all(op.get_bind(), actor="migration 0006", now=datetime.now(UTC))


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("owner")
    with op.batch_alter_table("break_glass") as batch:
        batch.drop_column("artifact_commit")
        batch.drop_column("artifact_images")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_constraint("uq_approvals_decision_principal", type_="unique")
        batch.create_unique_constraint(
            "uq_approvals_decision_approver", ["decision_id", "approver"]
        )
        batch.drop_column("artifact_commit")
        batch.drop_column("artifact_images")
        batch.drop_column("principal")
