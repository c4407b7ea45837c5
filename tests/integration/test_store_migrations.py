"""The schema is built by the migrations, and matches the tables the queries are written for."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from clearance.store import open_store, tables
from clearance.store.interface import SchemaError, StoreUnavailableError
from clearance.store.sql import SqlStore


def test_open_migrates_to_head_and_is_ready(store: SqlStore) -> None:
    assert store.ready()
    store.migrate()  # idempotent
    assert store.ready()


def test_migrations_build_exactly_the_declared_tables(store: SqlStore) -> None:
    with store.db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    assert differences == []


def test_a_database_without_the_schema_is_not_ready(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(SchemaError, match="has no Clearance schema"):
        SqlStore.open(url, migrate=False)
    store = open_store(url)
    assert store.ready()
    store.close()


def test_sqlite_is_tuned_for_durable_concurrent_use(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'c.db'}")
    with store.db.engine.connect() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        }
    store.close()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 2,
        "busy_timeout": 10_000,
    }


def test_bad_urls_and_unreachable_databases_are_store_errors(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="in-memory SQLite"):
        SqlStore.open("sqlite://")
    with pytest.raises(SchemaError, match="unsupported database"):
        SqlStore.open("mysql://u:hunter2@db/x")
    for migrate in (True, False):
        with pytest.raises(StoreUnavailableError) as caught:
            SqlStore.open("postgresql://clearance:hunter2@127.0.0.1:1/none", migrate=migrate)
        assert "hunter2" not in str(caught.value)
    with pytest.raises(StoreUnavailableError):
        SqlStore.open(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")


def test_an_older_schema_is_upgraded_in_place_keeping_the_log(tmp_path: Path) -> None:
    from alembic import command

    from clearance.audit.verify import verify
    from clearance.store.database import Database, _alembic_config, build_engine
    from store_samples import append, sample

    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(build_engine(url))
    with db.write("migrate to the first revision") as conn:
        command.upgrade(_alembic_config(conn), "0001")
    old = SqlStore(db)
    assert not old.ready()
    with pytest.raises(SchemaError, match="has schema revision 0001; this Clearance needs"):
        SqlStore.open(url, migrate=False)
    SqlStore.open(url, migrate=False, require_current=False).close()  # what `audit` uses
    record = append(old, sample(0))
    old.close()
    upgraded = SqlStore.open(url)
    try:
        assert upgraded.ready()
        assert upgraded.get_decision(record.decision_id) == record
        assert verify(upgraded).ok
    finally:
        upgraded.close()
