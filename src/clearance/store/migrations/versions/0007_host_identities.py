"""Host identity groups reported by sources, so the service joins an EDR host to its node as a
local check does.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_identities",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("group", sa.Text, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_host_identities_seen_at", "host_identities", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_host_identities_seen_at", "host_identities")
    op.drop_table("host_identities")
