"""Alembic environment: always run programmatically, on the connection the store hands over.

``clearance.store.migrate`` puts an open connection in ``config.attributes["connection"]``
(inside a transaction that holds the migration lock), so this file never reads a URL or a
logging config of its own.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):  # pragma: no cover - misuse guard
    raise RuntimeError("run migrations through clearance.store.migrate, not the alembic CLI")

context.configure(
    connection=connection,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
