"""A tiny loopback HTTP server runner for vendor stand-ins.

A stand-in is a state object (items, credentials, queued failures) plus a :class:`StandInHandler`
subclass that answers in the vendor's wire format. :class:`Loopback` runs the handler on
``127.0.0.1`` on a free port in a daemon thread::

    with Loopback(DefenderHandler, state) as base_url:
        ...

Failures are scripted through :class:`Scripted`: ``queue(status, body, headers)`` makes the next
API call (not the token call) answer with it, so a test can play a 429, a 5xx or a proxy's HTML
page at a precise point.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

HTML_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    b"</center><hr><center>nginx</center></body></html>"
)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Scripted:
    """State every stand-in shares: queued replies and a log of the requests it answered."""

    queued: list[Reply] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.queued.append(Reply(status, body, dict(headers or {})))

    def next_queued(self) -> Reply | None:
        with self.lock:
            return self.queued.pop(0) if self.queued else None


def add_numbered(
    items: list[dict[str, Any]],
    count: int,
    clock: datetime,
    make: Callable[[int, datetime], dict[str, Any]],
) -> datetime:
    """Append ``count`` items ``make(n, moment)`` to ``items`` (``n`` their index), each a second
    after the one before, starting a second after ``clock``; returns the last moment used."""
    for _ in range(count):
        clock += timedelta(seconds=1)
        items.append(make(len(items), clock))
    return clock


def moment(text: object) -> datetime:
    """An RFC 3339 time as the vendors write it (``Z`` or an offset); the epoch when absent or
    unreadable, so such items sort first and never match a ``since`` filter."""
    if not isinstance(text, str) or not text:
        return _EPOCH
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _EPOCH


class StandInHandler(BaseHTTPRequestHandler):
    """Helpers for vendor handlers: parsed query, JSON/form bodies, JSON replies."""

    state: ClassVar[Any]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    @property
    def path_only(self) -> str:
        return urllib.parse.urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)
        return dict(pairs)

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def json_body(self) -> Any:
        raw = self.body()
        return json.loads(raw) if raw else None

    def form_body(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body().decode()))

    def send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json; charset=utf-8", **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send(Reply(status, json.dumps(body).encode(), dict(headers or {})))

    def play_queued(self) -> bool:
        """Answer with a queued reply, if one waits; True when it did."""
        reply = self.state.scripted.next_queued()
        if reply is None:
            return False
        self.send(reply)
        return True

    def record(self) -> None:
        with self.state.scripted.lock:
            self.state.scripted.requests.append((self.command, self.path))


class Loopback:
    """Run ``handler`` on a free loopback port, with ``state`` bound to it as the class attribute
    ``attr`` (``state`` for a :class:`StandInHandler`); as a context manager, yields the base URL.
    """

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], state: Any, *, attr: str = "state"
    ) -> None:
        self._handler = type(handler.__name__, (handler,), {attr: state})
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
