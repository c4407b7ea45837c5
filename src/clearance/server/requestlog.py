"""Request ids and structured logs for the service (``clearance serve --log-format json``).

Every HTTP request gets an id: the caller's ``X-Request-ID`` when it is a sane token (so a
proxy's or a pipeline's id follows the request through), else a new one. It is returned in the
response's ``X-Request-ID`` header and carried by every log line written while the request is
handled, so one grep finds everything a request did.

``json`` logs are one JSON object a line on stderr (what Loki, Elasticsearch and CloudWatch
ingest without parsing rules). Secrets stay out: an access line names the method, the path
without its query string, the status and the duration, never a header or a body, and every
message is scrubbed of bearer credentials and Clearance tokens before it is written, in case a
library logs one.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ACCESS_LOGGER",
    "LOG_FORMATS",
    "JsonFormatter",
    "RequestId",
    "configure_logging",
    "request_id",
]

LOG_FORMATS = ("text", "json")
ACCESS_LOGGER = "clearance.access"
HEADER = b"x-request-id"

request_id: ContextVar[str | None] = ContextVar("clearance_request_id", default=None)

# A caller's id is kept when it could not smuggle anything into a log line or a header.
_SANE_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
# What a secret looks like wherever a library might log one.
_SECRETS = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (re.compile(r"\bclr_[A-Za-z0-9_-]+"), "clr_***"),
)
# LogRecord attributes that are not fields a caller passed in ``extra``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def scrub(text: str) -> str:
    """``text`` without anything shaped like a bearer credential or a Clearance token."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the request id when there is
    one, the fields passed in ``extra``, and the exception's type and text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        rid = request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) else scrub(str(value))
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = scrub(f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}")
            entry["traceback"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, sort_keys=True)


def configure_logging(fmt: str, *, verbose: bool = False) -> None:
    """Point every logger (ours, uvicorn's, the libraries') at stderr in ``fmt``. ``text`` keeps
    the command line's format and no access lines; ``json`` adds one access line per request."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("clearance").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if fmt == "json" else logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn installs its own handlers; route its records through ours instead.
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class RequestId:
    """The ASGI middleware: pick the request's id, expose it to logs, return it, log access."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.access = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming(scope) or secrets.token_hex(8)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message["headers"] = [*headers, (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access.isEnabledFor(logging.INFO):
                self.access.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],  # never the query string: it may carry a secret
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    },
                )
            request_id.reset(token)


def _incoming(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == HEADER:
            text = value.decode("latin-1")
            return text if _SANE_ID.match(text) else None
    return None
