"""A stand-in for FIRST's EPSS feed: ``/epss_scores-current.csv.gz`` served as the real host
serves it (the gzipped CSV as ``application/gzip``, a strong ``ETag``, ``304 Not Modified`` to a
matching ``If-None-Match``), 404 for any other path. Failures (a 502, a proxy's HTML page, a
truncated download) are scripted like every stand-in's."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from standins._server import Reply, Scripted, StandInHandler

FEED_PATH = "/epss_scores-current.csv.gz"
SAMPLE = Path(__file__).parents[1] / "fixtures" / "epss" / "epss_scores.sample.csv"


def gzipped(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


@dataclass
class EpssFeedState:
    body: bytes = field(default_factory=lambda: gzipped(SAMPLE.read_text()))
    scripted: Scripted = field(default_factory=Scripted)
    conditional: list[str | None] = field(default_factory=list)  # If-None-Match received

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


class EpssFeedHandler(StandInHandler):
    state: ClassVar[EpssFeedState]

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.record()
        if self.path_only != FEED_PATH:
            self.send(Reply(404, b"<html><body>Not Found</body></html>", _html()))
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
        self.send(Reply(200, self.state.body, {"ETag": etag, "Content-Type": "application/gzip"}))


def _html() -> dict[str, str]:
    return {"Content-Type": "text/html; charset=utf-8"}
