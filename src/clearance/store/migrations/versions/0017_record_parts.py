"""Parts of decision records that repeat, stored once by content.

A decision record holds its whole snapshot: for a 200-asset target, the exposure (~17 KiB) and
the signals matched (~10 KiB) are three quarters of a ~35 KiB record, and they are the same
bytes decision after decision while the target and its signals do not change. They are now kept
once in ``record_parts`` under the sha256 of their bytes, and the ``record`` column holds the
body with each such part replaced by a reference (:mod:`clearance.store.record_parts`). The
body that was hashed, exported and replayed is unchanged, byte for byte: reads put the parts
back before anything parses or hashes it. Records stored before keep their whole body.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_parts",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
    )


def downgrade() -> None:
    # Records that reference parts would be unreadable without them: put each part back into
    # its records first.
    bind = op.get_bind()
    parts: dict[str, str] = {
        digest: text
        for digest, text in bind.execute(sa.text("SELECT digest, text FROM record_parts"))
    }
    if parts:
        rows = bind.execute(
            sa.text("SELECT seq, record FROM decisions WHERE record LIKE :marker"),
            {"marker": "%\x01%"},
        ).all()
        for seq, record in rows:
            pieces = record.split("\x01")
            whole = "".join(parts.get(p, p) if i % 2 else p for i, p in enumerate(pieces))
            bind.execute(
                sa.text("UPDATE decisions SET record = :record WHERE seq = :seq"),
                {"record": whole, "seq": seq},
            )
    op.drop_table("record_parts")
