"""Leases: which replica polls which source. Exactly one holder per name across the fleet.

* :class:`PostgresLease` holds a session-level ``pg_try_advisory_lock`` on a connection of its
  own. If the holder dies its connection closes, PostgreSQL releases the lock, and the next
  replica to try takes over: no lease table to expire, no clock to trust.
* :class:`FileLease` is for one machine sharing a SQLite file: ``fcntl.flock`` on a lock file
  per name, released by the kernel when the process exits.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

from clearance.errors import LeaseError

logger = logging.getLogger(__name__)


class Lease(Protocol):
    def acquire(self, name: str) -> bool:
        """True if this process holds (or now takes) ``name``; never blocks."""
        ...

    def release(self, name: str) -> None: ...

    def close(self) -> None: ...


def _key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PostgresLease:
    def __init__(self, dsn: str) -> None:
        import psycopg  # noqa: PLC0415 - the [postgres] extra: only PostgreSQL deployments have it

        self._psycopg = psycopg
        self._dsn = dsn.replace("postgresql+psycopg://", "postgresql://", 1)
        self._conn: Any = None
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._held.clear()  # a new session holds nothing
            try:
                self._conn = self._psycopg.connect(self._dsn, autocommit=True)
            except self._psycopg.Error as exc:
                raise LeaseError(
                    f"cannot reach PostgreSQL for leases: {exc.__class__.__name__}"
                ) from exc
        return self._conn

    def acquire(self, name: str) -> bool:
        with self._lock:
            if name in self._held:
                return True
            try:
                row = (
                    self._connection()
                    .execute("SELECT pg_try_advisory_lock(%s)", (_key(name),))
                    .fetchone()
                )
            except self._psycopg.Error as exc:
                logger.warning("lease %s: %s", name, exc.__class__.__name__)
                self._conn = None
                return False
            if row and row[0]:
                self._held.add(name)
                return True
            return False

    def release(self, name: str) -> None:
        with self._lock:
            if name in self._held and self._conn is not None:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (_key(name),))
                self._held.discard(name)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._held.clear()


class FileLease:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files: dict[str, int] = {}

    def acquire(self, name: str) -> bool:
        if name in self._files:
            return True
        self._directory.mkdir(parents=True, exist_ok=True)
        path = self._directory / (hashlib.sha256(name.encode()).hexdigest()[:16] + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._files[name] = fd
        return True

    def release(self, name: str) -> None:
        fd = self._files.pop(name, None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def close(self) -> None:
        for name in list(self._files):
            self.release(name)


def lease_for(database_url: str) -> Lease:
    """The lease that fits the store: advisory locks on PostgreSQL, lock files beside SQLite."""
    if database_url.startswith("postgresql"):
        return PostgresLease(database_url)
    path = database_url.split("///", 1)[-1] if "///" in database_url else "clearance.db"
    return FileLease(Path(path).resolve().parent / ".clearance-leases")
