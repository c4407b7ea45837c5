"""A change counter per kind of shared data, kept by the database itself.

The service keeps what a decision reads (the signals touching a target) between decisions, and
must see another process's writes (a ``sync --watch``, another replica, an older replica during
a rolling upgrade) within ``read_cache``. Re-reading every target's signals each ``read_cache``
cost a query per target twice a second; reading one counter costs one query per process. The
counter is bumped by triggers, so every writer bumps it — this version, an older one, or an
operator's SQL — and a write that does not bump it cannot happen.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

WATCHED = ("signals", "signal_assets")  # what the touching read joins


def upgrade() -> None:
    changes = op.create_table(
        "store_changes",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(changes, [{"name": "signals", "value": 0}])
    if op.get_bind().dialect.name == "postgresql":
        # One bump per statement: a bulk upsert is one change.
        op.execute(
            "CREATE FUNCTION clearance_signals_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN UPDATE store_changes SET value = value + 1 WHERE name = 'signals'; "
            "RETURN NULL; END $$"
        )
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION clearance_signals_changed()"
            )
        return
    for table in WATCHED:  # SQLite: row triggers only, one per event
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_changed_{event.lower()} AFTER {event} ON {table} "  # noqa: S608 - constants
                "BEGIN UPDATE store_changes SET value = value + 1 WHERE name = 'signals'; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_changed ON {table}")
        op.execute("DROP FUNCTION clearance_signals_changed()")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_changed_{event}")
    op.drop_table("store_changes")
