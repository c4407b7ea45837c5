"""Database URLs: flag over environment over default; passwords never shown; psycopg 3 used."""

from __future__ import annotations

from pathlib import Path

from clearance.cli._store import sqlite_path
from clearance.store import DEFAULT_DATABASE_URL, database_url
from clearance.store.database import normalize_url, safe_url


def test_flag_then_environment_then_default() -> None:
    env = {"CLEARANCE_DATABASE_URL": "postgresql+psycopg://db/clearance"}
    assert database_url("sqlite:///x.db", env) == "sqlite:///x.db"
    assert database_url(None, env) == "postgresql+psycopg://db/clearance"
    assert database_url(None, {}) == DEFAULT_DATABASE_URL == "sqlite:///clearance.db"
    assert database_url(None, {"CLEARANCE_DATABASE_URL": ""}) == DEFAULT_DATABASE_URL


def test_plain_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///c.db") == "sqlite:///c.db"


def test_safe_url_masks_the_password() -> None:
    shown = safe_url("postgresql+psycopg://clearance:hunter2@db:5432/c")
    assert "hunter2" not in shown
    assert shown.startswith("postgresql+psycopg://clearance:***@db:5432/c")


def test_sqlite_path_of_a_url() -> None:
    assert sqlite_path("sqlite:///clearance.db") == Path("clearance.db")
    assert sqlite_path("sqlite:////var/lib/c.db?timeout=5") == Path("/var/lib/c.db")
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql+psycopg://db/c") is None
