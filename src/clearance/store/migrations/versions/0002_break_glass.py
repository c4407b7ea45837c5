"""Break-glass grants: audited proceed-anyway per target, with reason, ticket and expiry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
NAME = sa.String(200)


def upgrade() -> None:
    op.create_table(
        "break_glass",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("environment", NAME, nullable=False),
        sa.Column("target_key", sa.String(600), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("ticket", NAME, nullable=False),
        sa.Column("requested_by", NAME, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("decision_id", sa.String(100)),
        sa.Column("confirmed_by", NAME),
        sa.Column("confirmed_at", TIME),
        sa.Column("revoked_at", TIME),
        sa.Column("notified_at", TIME),
    )
    op.create_index("ix_break_glass_target_key", "break_glass", ["target_key"])


def downgrade() -> None:
    op.drop_table("break_glass")
