"""Connecting, transactions, migrations and error translation, for SQLite and PostgreSQL alike.

SQLite is tuned for a durable single-node service: WAL (readers never block the writer), a
busy timeout (a second process waits instead of failing), foreign keys on, and
``synchronous=FULL`` so a committed decision survives a power cut. Write transactions start with
``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Dialect, Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from clearance.store.interface import (
    ConflictError,
    SchemaError,
    StoreError,
    StoreUnavailableError,
)

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000
_MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary 64-bit key: one replica migrates at a time (pg_advisory_xact_lock).
_MIGRATION_LOCK_KEY = 0x0C1EA5A7CE000001
_WRITE = "clearance_write"


def normalize_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def build_engine(url: str, pool_size: int = 8, max_overflow: int = 32) -> Engine:
    url = normalize_url(url)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                # Each pooled connection would open its own empty database.
                raise SchemaError(
                    "an in-memory SQLite database cannot be shared by the store's connections; "
                    "use a file, e.g. sqlite:///clearance.db"
                )
            engine = create_engine(
                url,
                pool_size=pool_size,
                max_overflow=max_overflow,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            )
            _tune_sqlite(engine)
            return engine
        if parsed.get_backend_name() == "postgresql":
            return create_engine(
                url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
            )
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise SchemaError(f"cannot use database URL {safe_url(url)}: {exc}") from exc
    raise SchemaError(
        f"unsupported database {safe_url(url)}: use sqlite:///PATH or postgresql+psycopg://…"
    )


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so BEGIN is ours (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """An engine plus the write discipline: one in-process writer at a time on SQLite."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite has one writer; queueing on a Python lock is fairer and far cheaper than
        # every thread polling the busy handler. Other processes still wait on busy_timeout.
        self._sqlite_writer = threading.Lock()
        self._write_engine = engine.execution_options(**{_WRITE: True})

    @contextmanager
    def read(self, operation: str) -> Iterator[Connection]:
        with translate_errors(operation), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self, operation: str) -> Iterator[Connection]:
        """A write transaction, committed on clean exit; errors come out as StoreErrors."""
        with translate_errors(operation, self.engine.dialect):
            if self.dialect == "sqlite":
                with (
                    self._sqlite_writer,
                    self._write_engine.begin() as conn,
                ):
                    yield conn
            else:
                with self.engine.begin() as conn:
                    yield conn

    @contextmanager
    def driver_write(self, operation: str) -> Iterator[Any]:
        """A DBAPI cursor in a write transaction of a pooled connection, committed on clean
        exit: :meth:`write` without SQLAlchemy's Connection (for the decision log's append,
        where its bookkeeping cost more CPU than the write; :mod:`clearance.store.driver_sql`).
        The same discipline: one in-process writer on SQLite, ``BEGIN IMMEDIATE``; the pool's
        checkout (and its pre-ping on PostgreSQL); errors come out as StoreErrors."""
        sqlite = self.dialect == "sqlite"
        with (
            translate_errors(operation, self.engine.dialect),
            self._sqlite_writer if sqlite else nullcontext(),
        ):
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                if sqlite:
                    cursor.execute("BEGIN IMMEDIATE")  # the connection is in autocommit mode
                yield cursor
                raw.commit()
            except BaseException:
                raw.rollback()
                raise
            finally:
                raw.close()  # back to the pool

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def translate_errors(operation: str, dialect: Dialect | None = None) -> Iterator[None]:
    """Re-raise SQLAlchemy's errors as StoreErrors naming ``operation``; with ``dialect``, also
    its driver's own (statements run on the DBAPI cursor: :mod:`clearance.store.driver_sql`),
    the same way: a unique violation is a conflict, an operational error a busy database."""
    dbapi = dialect.loaded_dbapi if dialect is not None else None
    caught: tuple[type[Exception], ...] = (SQLAlchemyError,)
    if dbapi is not None:
        caught += (dbapi.Error,)
    try:
        yield
    except StoreError:
        raise
    except caught as exc:
        if isinstance(exc, IntegrityError) or (dbapi and isinstance(exc, dbapi.IntegrityError)):
            raise ConflictError(f"store: {operation}: {_first_line(exc)}") from exc
        if isinstance(exc, OperationalError | PoolTimeoutError) or (
            dbapi and isinstance(exc, dbapi.OperationalError)
        ):
            raise StoreUnavailableError(
                f"store: {operation}: database unavailable or busy ({_first_line(exc)}); "
                "retry later"
            ) from exc
        raise StoreError(f"store: {operation}: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    # The driver's own message, without SQLAlchemy's appended SQL and parameters (which could
    # carry a record's contents into a log).
    orig = getattr(exc, "orig", None)
    source = orig if orig is not None else exc
    lines = str(source).strip().splitlines()
    return f"{type(source).__name__}: {lines[0] if lines else ''}"


def _alembic_config(conn: Connection | None = None) -> Any:
    from alembic.config import Config  # noqa: PLC0415 - alembic is needed only here

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest migration shipped with this code (read once: readiness probes call often)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    head: str | None = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    return head


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    revision: str | None = MigrationContext.configure(conn).get_current_revision()
    return revision


def migrate(db: Database) -> None:
    """``alembic upgrade head``, holding a lock so concurrent replicas migrate one at a time."""
    from alembic import command  # noqa: PLC0415

    with db.write("migrate schema") as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        before = current_revision(conn)
        command.upgrade(_alembic_config(conn), "head")
        after = current_revision(conn)
    if before != after:
        logger.info("store schema migrated from %s to %s", before or "empty", after)


def is_current(db: Database) -> bool:
    """Whether the database answers and its schema is at the migration head."""
    try:
        with db.read("check schema revision") as conn:
            return current_revision(conn) == head_revision()
    except StoreError:
        return False
