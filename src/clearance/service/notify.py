"""Outbound notifications (break-glass) to a webhook: retried, recorded, never blocking.

Delivery runs on a background thread: the break-glass is already committed when the
notification is attempted, so a slow or dead receiver can delay only the notification, never
the audit. Each failure is logged (without the URL's query string, which may hold a secret) and
counted; success is written back with ``mark_break_glass_notified``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from clearance.http_client import Peer, http_client

logger = logging.getLogger(__name__)


def redact_url(url: str) -> str:
    """The URL without credentials, query or fragment (any of which may carry a secret)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


class Webhook:
    """POST JSON to ``url``; up to ``retries`` retries, backoff doubling from ``backoff``."""

    def __init__(
        self,
        url: str | None,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float | None = None,
        on_result: Callable[[bool], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.on_result = on_result
        self.sleep = sleep
        self._threads: list[threading.Thread] = []

    def send(self, payload: Mapping[str, Any], on_delivered: Callable[[datetime], None]) -> None:
        """Deliver in the background; ``on_delivered(at)`` is called after a 2xx answer."""
        if self.url is None:
            return
        thread = threading.Thread(
            target=self._deliver, args=(self.url, dict(payload), on_delivered), daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def join(self, timeout: float = 10.0) -> None:
        """Wait for deliveries in flight (shutdown and tests)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _deliver(
        self, url: str, payload: dict[str, Any], on_delivered: Callable[[datetime], None]
    ) -> None:
        tries = self.retries + 1
        made = 0

        def attempt() -> bool:
            nonlocal made
            made += 1
            problem: str
            try:
                with http_client(Peer.WEBHOOK, timeout=self.timeout) as client:
                    response = client.post(url, json=payload)
                if response.is_success:
                    try:
                        on_delivered(datetime.now(UTC))
                    except Exception:  # recording the delivery must not kill the thread
                        logger.exception("could not record the notification's delivery")
                    return True
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            logger.warning(
                "notification to %s failed (attempt %d of %d): %s",
                redact_url(url),
                made,
                tries,
                problem,
            )
            return False

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_result(lambda delivered: not delivered),
            stop=tenacity.stop_after_attempt(tries),
            wait=tenacity.wait_exponential(multiplier=self.backoff),
            sleep=self.sleep,
            retry_error_callback=lambda state: False,
        )
        self._result(retrying(attempt))

    def _result(self, ok: bool) -> None:
        if self.on_result is not None:
            self.on_result(ok)
