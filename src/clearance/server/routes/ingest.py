"""``POST /v1/ingest/falco[/{endpoint}]`` and ``POST /v1/ingest/ocsf[/{endpoint}]``: push receivers.

Falco (its JSON output, or falcosidekick's webhook payload; one event, a JSON list or JSON
Lines) and OCSF Detection Findings from any producer. The endpoint's settings come from the
``ingest:`` key of ``clearance.yaml`` (Falco does not send its cluster: each endpoint names it);
``default`` answers the path without an endpoint and needs no configuration.

Answers (callers need the ``ingest`` scope; falcosidekick sends it as a custom header):

* 202 with the counts when something was stored; the quarantined items are listed by location
  and reason, and their good neighbours are stored;
* 422 naming each problem when nothing in the body was usable (what was bad is still
  quarantined and counted against the source);
* 404 for an endpoint that is not configured, 413 for a body over the limit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from clearance.ingest.storing import Stored, store_batch
from clearance.server.errors import InvalidInputError, problem
from clearance.server.routes._deps import Id, Ingester, context
from clearance.sources.falco.normalize import FalcoNormalizer
from clearance.sources.interface import Batch
from clearance.sources.ocsf import OcsfNormalizer
from clearance.store.interface import NotFoundError

router = APIRouter(tags=["ingest"])

MAX_BODY = 16 * 1024 * 1024  # far above a falcosidekick batch; a bigger body is a mistake


@router.post("/v1/ingest/falco", status_code=202, summary="Falco events (default endpoint)")
async def falco_default(request: Request, caller: Ingester) -> JSONResponse:
    return await falco(request, caller, "default")


@router.post("/v1/ingest/falco/{endpoint}", status_code=202, summary="Falco events")
async def falco(request: Request, _caller: Ingester, endpoint: Id) -> JSONResponse:
    settings = context(request).config.ingest.falco_endpoint(endpoint)
    if settings is None:
        raise NotFoundError(
            f"no Falco ingest endpoint {endpoint!r} in clearance.yaml (ingest.falco)"
        )
    normalizer = FalcoNormalizer.from_config(settings.source, settings)
    return await _receive(request, normalizer, settings.source, f"falco/{endpoint}")


@router.post("/v1/ingest/ocsf", status_code=202, summary="OCSF Detection Findings")
async def ocsf_default(request: Request, caller: Ingester) -> JSONResponse:
    return await ocsf(request, caller, "default")


@router.post("/v1/ingest/ocsf/{endpoint}", status_code=202, summary="OCSF Detection Findings")
async def ocsf(request: Request, _caller: Ingester, endpoint: Id) -> JSONResponse:
    settings = context(request).config.ingest.ocsf_endpoint(endpoint)
    if settings is None:
        raise NotFoundError(f"no OCSF ingest endpoint {endpoint!r} in clearance.yaml (ingest.ocsf)")
    normalizer = OcsfNormalizer(settings.source, cluster=settings.cluster)
    return await _receive(request, normalizer, settings.source, f"ocsf/{endpoint}")


async def _receive(
    request: Request, normalizer: FalcoNormalizer | OcsfNormalizer, source: str, where: str
) -> JSONResponse:
    ctx = context(request)
    data = await _body(request)
    if data is None:
        return problem(413, "payload too large", f"bodies are limited to {MAX_BODY} bytes")
    if not data.strip():
        raise InvalidInputError("the body is empty", [{"field": "body", "problem": "empty"}])
    batch = normalizer.normalize(data, location=f"POST {where}")
    stored = await run_in_threadpool(store_batch, ctx.store, batch, source, ctx.clock())
    ctx.decisions.health_cache.clear()
    ctx.metrics.ingested(source, stored.signals, stored.quarantined)
    body = _answer(stored, batch, getattr(normalizer, "skipped", {}))
    if batch.quarantined and not batch.signals and not body["skipped"]:
        raise InvalidInputError(
            f"nothing in the body could be used; {len(batch.quarantined)} item(s) quarantined "
            f"under source {source!r}. First: {batch.quarantined[0].detail}",
            body["quarantined_items"],
            result=body,
        )
    return JSONResponse(body, status_code=202)


async def _body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(stored: Stored, batch: Batch, skipped: Any) -> dict[str, Any]:
    return {
        **stored.to_dict(),
        "skipped": dict(sorted(skipped.items())),
        "quarantined_items": [
            {"field": q.location, "problem": f"{q.reason}: {q.detail}", "digest": q.digest}
            for q in batch.quarantined
        ],
    }
