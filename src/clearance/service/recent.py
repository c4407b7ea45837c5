"""A read cache for what every decision reads but rarely changes (source health, exceptions,
break-glass grants): kept for ``ttl`` seconds, and dropped at once by this process's own writes.

An entry is fresh only while both clocks agree it is: the process's monotonic clock (so another
replica's write is seen within ``ttl``) and the service clock decisions are made at (so a
decision "as of" a later time never reads data cached for an earlier one). ``ttl = 0`` turns the
cache off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


class Recent(Generic[T]):
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entry: tuple[float, datetime, T] | None = None

    def get(self, now: datetime, load: Callable[[], T]) -> T:
        if self.ttl > 0:
            with self._lock:
                entry = self._entry
            if entry is not None:
                loaded_at, loaded_for, value = entry
                age = time.monotonic() - loaded_at
                moved = (now - loaded_for).total_seconds()
                if age < self.ttl and 0 <= moved < self.ttl:
                    return value
        value = load()
        if self.ttl > 0:
            with self._lock:
                self._entry = (time.monotonic(), now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entry = None
