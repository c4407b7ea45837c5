"""Durable state for the Clearance service. The contract is in :mod:`clearance.store.interface`.

``open_store(url)`` opens the store as a :class:`Store` (every role): the SQL store (SQLite or
PostgreSQL, same code), migrated to head unless told otherwise. SQLAlchemy is imported only
then, so importing this package stays cheap for ``clearance check``. The commands and the server
that also need what only the SQL store offers (the audit log's reads, ``require_current``) open
:class:`clearance.store.sql.SqlStore` themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from clearance.store.interface import Store

DEFAULT_DATABASE_URL = "sqlite:///clearance.db"
DATABASE_URL_ENV = "CLEARANCE_DATABASE_URL"


def database_url(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """``explicit`` (a ``--database`` flag), else ``$CLEARANCE_DATABASE_URL``, else the default."""
    if explicit:
        return explicit
    environ = os.environ if env is None else env
    return environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store at ``url``; with ``migrate`` bring its schema to head first."""
    from clearance.store.sql import SqlStore  # noqa: PLC0415 - keep sqlalchemy off the check path

    return SqlStore.open(url, migrate=migrate)


__all__ = ["DATABASE_URL_ENV", "DEFAULT_DATABASE_URL", "Store", "database_url", "open_store"]
