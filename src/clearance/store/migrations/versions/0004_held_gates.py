"""Held GitHub protection-rule gates, answered by whichever replica records the approval, and
the callbacks integrations sent (attempts and outcome), visible whichever replica sent them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "held_gates",
        sa.Column("decision_id", sa.String(100), primary_key=True),
        sa.Column("gate", sa.Text, nullable=False),
        sa.Column("held_at", TIME, nullable=False),
        sa.Column("released_at", TIME),
    )
    op.create_table(
        "callbacks",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(100), nullable=False, unique=True),
        sa.Column("decision_id", sa.String(100), nullable=False),
        sa.Column("integration", sa.String(50), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("ix_callbacks_decision_id", "callbacks", ["decision_id"])


def downgrade() -> None:
    op.drop_table("callbacks")
    op.drop_table("held_gates")
