"""Agent inventories of the sources that cover hosts (Falcon hosts, SentinelOne agents), so the
service knows which nodes no security agent watches, as a local check does.

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_coverage",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("device", sa.String(512), primary_key=True),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("host_coverage")
