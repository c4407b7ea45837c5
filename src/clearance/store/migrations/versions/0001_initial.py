"""Initial schema: signals, source health, quarantine, policies, decision log, grants, tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
UID = sa.String(512)
NAME = sa.String(200)
DIGEST = sa.String(80)


def upgrade() -> None:
    op.create_table(
        "signals",
        sa.Column("uid", UID, primary_key=True),
        sa.Column("source", NAME, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("first_seen", TIME, nullable=False),
        sa.Column("last_seen", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_signals_source", "signals", ["source"])
    op.create_table(
        "signal_assets",
        sa.Column("uid", UID, sa.ForeignKey("signals.uid", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(600), primary_key=True),
    )
    op.create_index("ix_signal_assets_key", "signal_assets", ["key"])
    op.create_table(
        "signal_status_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uid", UID, sa.ForeignKey("signals.uid", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("at", TIME, nullable=False),
    )
    op.create_index("ix_signal_status_history_uid", "signal_status_history", ["uid"])
    op.create_table(
        "source_health",
        sa.Column("name", NAME, primary_key=True),
        sa.Column("last_success", TIME),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", TIME),
        sa.Column("watermark", sa.Text),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", NAME, nullable=False),
        sa.Column("reason", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.UniqueConstraint("source", "digest", name="uq_quarantine_source_digest"),
    )
    op.create_table(
        "policies",
        sa.Column("digest", DIGEST, primary_key=True),
        sa.Column("text", sa.LargeBinary, nullable=False),
        sa.Column("stored_at", TIME, nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("decision_id", sa.String(100), nullable=False, unique=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("environment", NAME, nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("target_key", sa.String(600), nullable=False),
        sa.Column("actor", NAME),
        sa.Column("policy_digest", DIGEST, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index("ix_decisions_at", "decisions", ["at"])
    op.create_index("ix_decisions_environment_seq", "decisions", ["environment", "seq"])
    op.create_index("ix_decisions_target_key_seq", "decisions", ["target_key", "seq"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])  # the genesis head
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column(
            "decision_id",
            sa.String(100),
            sa.ForeignKey("decisions.decision_id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("approver", NAME, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("expires_at", TIME),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("signals", sa.Text, nullable=False),
        sa.Column("groups", sa.Text, nullable=False),
        sa.UniqueConstraint("decision_id", "approver", name="uq_approvals_decision_approver"),
    )
    op.create_table(
        "exemptions",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("signal", UID),
        sa.Column("rule", NAME),
        sa.Column("environment", NAME, nullable=False),
        sa.Column("cluster", NAME, nullable=False),
        sa.Column("namespace", NAME, nullable=False),
        sa.Column("workload", NAME, nullable=False),
        sa.Column("expires", TIME, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("ticket", NAME, nullable=False),
        sa.Column("approver", NAME, nullable=False),
        sa.Column("created_by", NAME),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("revoked_at", TIME),
        sa.Column("revoked_by", NAME),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", NAME, nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME),
        sa.Column("revoked_at", TIME),
        sa.Column("last_used_at", TIME),
    )


def downgrade() -> None:
    for table in (
        "api_tokens",
        "exemptions",
        "approvals",
        "audit_head",
        "decisions",
        "policies",
        "quarantine",
        "source_health",
        "signal_status_history",
        "signal_assets",
        "signals",
    ):
        op.drop_table(table)
