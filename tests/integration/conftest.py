"""Store fixtures: every store test runs on SQLite and, when configured, on PostgreSQL.

PostgreSQL: set ``CLEARANCE_TEST_POSTGRES_URL`` (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). The session creates a fresh database
``clearance_test_<random>`` beside the one named, migrates it once, empties it before each test,
and drops it at the end. Without the variable the PostgreSQL half is skipped, saying why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from clearance.store import tables
from clearance.store.sql import SqlStore

POSTGRES_ENV = "CLEARANCE_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://…/test)")
    import psycopg

    url = make_url(base)
    name = f"clearance_test_{secrets.token_hex(4)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    fresh_url = url.set(database=name).render_as_string(hide_password=False)
    store = SqlStore.open(fresh_url)  # migrate once per session
    store.close()
    try:
        yield fresh_url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_postgres(url: str) -> None:
    store = SqlStore.open(url, migrate=False)
    singletons = ("audit_head", "store_changes")  # one row each, kept as migrations made them
    names = ", ".join(t.name for t in tables.metadata.sorted_tables if t.name not in singletons)
    with store.db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        conn.execute(text("UPDATE audit_head SET seq = 0, hash = :h"), {"h": "0" * 64})
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'clearance.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    opened = SqlStore.open(store_url)
    try:
        yield opened
    finally:
        opened.close()
