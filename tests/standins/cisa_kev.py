"""A stand-in for CISA's KEV feed: one static JSON file served as a CDN serves it, with a strong
``ETag``, ``304 Not Modified`` to a matching ``If-None-Match`` (RFC 9110 §13.1.2), and 404 for
any other path. Failures (a 502, a proxy's HTML page) are scripted like every stand-in's."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import ClassVar

from standins._server import Reply, Scripted, StandInHandler

FEED_PATH = "/sites/default/files/feeds/known_exploited_vulnerabilities.json"


@dataclass
class KevFeedState:
    body: bytes
    scripted: Scripted = field(default_factory=Scripted)
    conditional: list[str | None] = field(default_factory=list)  # If-None-Match received

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


class KevFeedHandler(StandInHandler):
    state: ClassVar[KevFeedState]

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.record()
        if self.path_only != FEED_PATH:
            self.send(Reply(404, b"<html><body>Page not found</body></html>", _html()))
            return
        self.state.conditional.append(self.headers.get("If-None-Match"))
        if self.play_queued():
            return
        etag = self.state.etag
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send(Reply(200, self.state.body, {"ETag": etag}))


def _html() -> dict[str, str]:
    return {"Content-Type": "text/html; charset=utf-8"}
