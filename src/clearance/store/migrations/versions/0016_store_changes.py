"""A change counter per kind of shared data, kept by the database itself.

The service keeps what a decision reads about a target (the signals touching it, its post-deploy
checks, the approvals on its decisions) between decisions, and must see another process's writes
(a ``sync --watch``, another replica, an older replica during a rolling upgrade) within
``read_cache``. Re-reading each target's rows every ``read_cache`` cost queries per target twice
a second; reading the counters costs one query per process. They are bumped by triggers, so
every writer bumps them — this version, an older one, or an operator's SQL.

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

# Each counter and the tables whose writes move it (what the cached reads select from).
WATCHED = {
    "signals": ("signals", "signal_assets"),
    "checks": ("post_deploy_checks", "deployments"),
    "approvals": ("approvals",),
}


def upgrade() -> None:
    changes = op.create_table(
        "store_changes",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(changes, [{"name": name, "value": 0} for name in WATCHED])
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, tables in WATCHED.items():
        bump = f"UPDATE store_changes SET value = value + 1 WHERE name = '{name}';"  # noqa: S608
        if postgresql:  # one bump per statement: a bulk upsert is one change
            op.execute(
                f"CREATE FUNCTION clearance_{name}_changed() RETURNS trigger LANGUAGE plpgsql "
                f"AS $$ BEGIN {bump} RETURN NULL; END $$"
            )
        for table in tables:
            if postgresql:
                op.execute(
                    f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR "
                    f"TRUNCATE ON {table} FOR EACH STATEMENT "
                    f"EXECUTE FUNCTION clearance_{name}_changed()"
                )
                continue
            for event in ("insert", "update", "delete"):  # SQLite: row triggers, one per event
                op.execute(
                    f"CREATE TRIGGER {table}_changed_{event} AFTER {event.upper()} ON {table} "
                    f"BEGIN {bump} END"
                )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, tables in WATCHED.items():
        for table in tables:
            if postgresql:
                op.execute(f"DROP TRIGGER {table}_changed ON {table}")
            else:
                for event in ("insert", "update", "delete"):
                    op.execute(f"DROP TRIGGER {table}_changed_{event}")
        if postgresql:
            op.execute(f"DROP FUNCTION clearance_{name}_changed()")
    op.drop_table("store_changes")
