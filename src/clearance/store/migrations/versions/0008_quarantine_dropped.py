"""Quarantine retention: how many quarantined items each source has had dropped by the bound.

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_health") as batch:
        batch.add_column(
            sa.Column("quarantine_dropped", sa.BigInteger, nullable=False, server_default="0")
        )
    op.create_index("ix_quarantine_source_id", "quarantine", ["source", "id"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_source_id", "quarantine")
    with op.batch_alter_table("source_health") as batch:
        batch.drop_column("quarantine_dropped")
