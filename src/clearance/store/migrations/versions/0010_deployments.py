"""Deployed targets, watched after the deploy: the decision that let each one through, how it was
learned, and the last alert the watcher raised for it (so replicas alert once per new evidence).

Revision ID: 0010
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0013"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("key", sa.String(600), primary_key=True),
        sa.Column("decision_id", sa.String(100), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("via", sa.String(50), nullable=False),
        sa.Column("by", sa.String(300)),
        sa.Column("deployed_at", TIME, nullable=False),
        sa.Column("alert_digest", sa.String(100)),
        sa.Column("alerted_at", TIME),
    )


def downgrade() -> None:
    op.drop_table("deployments")
