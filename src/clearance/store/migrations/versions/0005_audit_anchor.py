"""Every override and trust change in the hash chain, and signed checkpoints of its head.

``audit_events`` holds the chain's records other than decisions (approvals, exceptions,
break-glass, tokens, policies), sharing seq and head with ``decisions``; ``audit_checkpoints``
holds signed statements of the head. The rows that exist already are recorded as they are found
(kind ``adopted``), so `clearance audit verify` can compare every row with the chain from here on.

Revision ID: 0005
Revises: 0007 (host identities, which landed first)
Create Date: 2026-11-30
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0007"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("object", sa.String(20), nullable=False),
        sa.Column("object_id", sa.String(100), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_events_object", "audit_events", ["object", "object_id"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("key_id", sa.String(100), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
    )
    op.create_index("ix_audit_checkpoints_seq", "audit_checkpoints", ["seq"])

    from clearance.store import events  # noqa: PLC0415 - the chain's own sealing

    # The time the rows were adopted, not a time in the core: a migration runs at the edge.
    # Only the tables there were then: a table tracked since (post-deploy checks, 0015) is
    # created later, empty, and records its rows as they are written.
    then = (events.APPROVAL, events.EXCEPTION, events.BREAK_GLASS, events.TOKEN, events.POLICY)
    events.adopt_all(op.get_bind(), actor="migration 0005", now=datetime.now(UTC), only=then)


def downgrade() -> None:
    # Lossy: the decisions sealed after a trust record link to it, so an older `audit verify`
    # reports those links as broken once the records are gone.
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_events")
