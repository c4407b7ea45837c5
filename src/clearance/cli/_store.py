"""Opening the service's store from a command: ``--database``, else the environment, else default.

Commands that only read (``audit``) refuse to create a database: an empty new SQLite file would
make ``audit verify`` report "ok: 0 records" for a mistyped path.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from clearance.store import DATABASE_URL_ENV, DEFAULT_DATABASE_URL, database_url
from clearance.store.interface import SchemaError
from clearance.store.sql import SqlStore


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help=f"database URL (default: ${DATABASE_URL_ENV}, else {DEFAULT_DATABASE_URL})",
    )


def open_from_args(args: argparse.Namespace, *, create: bool) -> SqlStore:
    url = database_url(args.database)
    if not create:
        path = sqlite_path(url)
        if path is not None and not path.exists():
            raise SchemaError(f"no database at {path}; pass --database or set ${DATABASE_URL_ENV}")
    # Reading commands accept an older schema: the log they read exists since the first one.
    return SqlStore.open(url, migrate=create, require_current=create)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL; None for other databases and in-memory SQLite."""
    prefix = next((p for p in ("sqlite:///", "sqlite+pysqlite:///") if url.startswith(p)), None)
    if prefix is None:
        return None
    path = url[len(prefix) :].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)
