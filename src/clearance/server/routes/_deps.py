"""What every route needs: the context of its app, and the caller checked for a scope.

Authentication is a dependency, so it runs before the body is validated: an unauthenticated
request is answered 401 whatever its body holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from clearance.server.app import ServerContext
from clearance.server.auth import Principal
from clearance.server.guard import principal_of
from clearance.store.interface import Caller, Scope

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]

_bearer = HTTPBearer(auto_error=False, description="an API token or an OIDC JWT")


def context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


async def _principal(request: Request) -> Principal:
    # The request guard authenticated the caller before the body was read; without the guard
    # (an app assembled by hand), authenticate here. A token verified moments ago needs no
    # I/O; anything else (a database read, a JWKS fetch) runs on the thread pool.
    principal = principal_of(request.state)
    if principal is not None:
        return principal
    ctx = context(request)
    principal = ctx.auth.remembered(request.headers.get("authorization"), ctx.clock())
    if principal is None:
        principal = await run_in_threadpool(ctx.principal, request)
    return principal


def needs(scope: Scope) -> Callable[..., Awaitable[Caller]]:
    """A dependency: 401 without valid credentials, 403 without ``scope`` (admin holds all)."""

    async def check(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        return (await _principal(request)).require(scope)

    return check


async def _writer(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    principal = await _principal(request)
    principal.require(Scope.INGEST)
    return principal


Decider = Annotated[Caller, Depends(needs(Scope.DECIDE))]
Approver = Annotated[Caller, Depends(needs(Scope.APPROVE))]
Admin = Annotated[Caller, Depends(needs(Scope.ADMIN))]
Ingester = Annotated[Caller, Depends(needs(Scope.INGEST))]
# An ingest caller with its grants: which sources it may write (Principal.may_write).
Writer = Annotated[Principal, Depends(_writer)]
