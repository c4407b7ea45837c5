"""Alembic migrations for the store; run programmatically by ``clearance.store.migrate``."""
