"""Post-deploy checks (smoke tests) recorded against the decision whose deploy they checked,
read by later decisions of the same target or of the same release elsewhere.

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0010"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "post_deploy_checks",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column(
            "decision_id",
            sa.String(100),
            sa.ForeignKey("decisions.decision_id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("target_key", sa.String(600), nullable=False),
        sa.Column("release", sa.String(80)),
        sa.Column("at", TIME, nullable=False),
        sa.Column("by", sa.String(200)),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_post_deploy_checks_target", "post_deploy_checks", ["environment", "target_key", "at"]
    )
    op.create_index("ix_post_deploy_checks_release", "post_deploy_checks", ["release", "at"])


def downgrade() -> None:
    op.drop_index("ix_post_deploy_checks_release", table_name="post_deploy_checks")
    op.drop_index("ix_post_deploy_checks_target", table_name="post_deploy_checks")
    op.drop_table("post_deploy_checks")
