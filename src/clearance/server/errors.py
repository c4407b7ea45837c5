"""Errors → JSON problem responses (RFC 9457 shape), mapped in one place.

Every body is ``{"type", "title", "status", "detail"}`` plus ``errors`` (``field``/``problem``
pairs) for validation failures. 429 and 503 carry ``Retry-After``. Messages are ours and name no
secret; an unexpected exception is logged with its traceback and answered with a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from clearance.errors import (
    AuthError,
    ClearanceError,
    InvalidInputError,
    InventoryError,
    ModelError,
    OverloadedError,
    PolicyError,
    RefusedError,
    ScopeError,
    SourceError,
    StateError,
    TargetError,
)
from clearance.store.interface import (
    ConflictError,
    NotFoundError,
    SchemaError,
    StoreUnavailableError,
    TokenError,
)

logger = logging.getLogger(__name__)


# (class, status, title) — first match wins, so subclasses come first.
_MAP: tuple[tuple[type[Exception], int, str], ...] = (
    (AuthError, 401, "unauthenticated"),
    (TokenError, 401, "unauthenticated"),
    (ScopeError, 403, "forbidden"),
    (RefusedError, 403, "forbidden"),
    (NotFoundError, 404, "not found"),
    (ConflictError, 409, "conflict"),
    (StateError, 409, "conflict"),
    (InvalidInputError, 422, "invalid input"),
    (TargetError, 422, "invalid target"),
    (ModelError, 422, "invalid input"),
    (OverloadedError, 429, "overloaded"),
    (StoreUnavailableError, 503, "store unavailable"),
    (SchemaError, 503, "store not ready"),
    (InventoryError, 503, "inventory failed"),
    (SourceError, 503, "source failed"),
    (PolicyError, 500, "policy error"),
)


def status_of(exc: ClearanceError) -> tuple[int, str]:
    """The HTTP status and title an error is answered with (the console's pages use it too)."""
    for cls, status, title in _MAP:
        if isinstance(exc, cls):
            return status, title
    return 500, "internal error"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def install(app: FastAPI, retry_after: int) -> None:
    async def clearance_error(request: Request, exc: Exception) -> JSONResponse:
        for cls, status, title in _MAP:
            if isinstance(exc, cls):
                extra: dict[str, Any] = {}
                if isinstance(exc, InvalidInputError):
                    extra = {"errors": exc.errors, **exc.extra}
                response = problem(status, title, str(exc), **extra)
                if status in (429, 503):
                    response.headers["Retry-After"] = str(retry_after)
                if status == 401:
                    reason = str(exc).replace('"', "'")
                    response.headers["WWW-Authenticate"] = (
                        f'Bearer error="invalid_token", error_description="{reason}"'
                    )
                return response
        logger.error("unmapped error on %s %s: %s", request.method, request.url.path, exc)
        return problem(500, "internal error", "the service failed; see its log")

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "request", "problem": "invalid"}
        return problem(422, "invalid input", f"{first['field']}: {first['problem']}", errors=errors)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem(exc.status_code, str(exc.detail), str(exc.detail))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal error", "the service failed; see its log")

    app.add_exception_handler(ClearanceError, clearance_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
