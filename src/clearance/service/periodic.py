"""A background pass run every so often: the watch after the deploy and the notification sweep
are each one ``Periodic`` over their own ``tick``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Periodic:
    """``tick()`` every ``interval`` seconds until ``stop``; a pass that raises is logged as
    ``what`` and the next one runs all the same (one bad pass must not end the watching)."""

    def __init__(
        self, tick: Callable[[], object], interval: float, *, name: str, what: str
    ) -> None:
        self.tick = tick
        self.interval = interval
        self.what = what
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.tick()
            except Exception:
                logger.exception("%s failed", self.what)
