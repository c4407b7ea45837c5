"""``/healthz`` (alive), ``/readyz`` (store reachable, schema current), ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from clearance.server.errors import problem
from clearance.server.routes._deps import context
from clearance.store.interface import StoreError

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: store reachable and migrations current")
def readyz(request: Request) -> Any:
    ctx = context(request)
    try:
        ready = ctx.store.ready()
    except StoreError as exc:
        response = problem(503, "not ready", str(exc))
        response.headers["Retry-After"] = str(ctx.settings.retry_after)
        return response
    if not ready:
        response = problem(503, "not ready", "the store's schema is not at the migration head")
        response.headers["Retry-After"] = str(ctx.settings.retry_after)
        return response
    return {"status": "ready", "policy_digest": ctx.policy.digest}


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    ctx = context(request)
    now = ctx.clock()
    body = ctx.metrics.render(ctx.store.source_states(), now, ctx.config.inventory.health(now))
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
