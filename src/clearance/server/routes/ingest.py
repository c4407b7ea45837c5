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
* 403 when the credential may not write the endpoint's source (``ingest:NAME`` grants name
  their sources; a source ``sync`` pulls is written by push only by an admin);
* 404 for an endpoint that is not configured, 413 for a body over the limit (the request guard
  enforces it before the body is read: ``server.body_limits.ingest``, 16 MiB by default).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from clearance.errors import InvalidInputError, ScopeError
from clearance.ingest.storing import Stored
from clearance.server.auth import Principal
from clearance.server.routes._deps import Id, Writer, context
from clearance.sources.falco.normalize import FalcoNormalizer
from clearance.sources.interface import Batch
from clearance.sources.ocsf import OcsfNormalizer
from clearance.store.interface import NotFoundError

router = APIRouter(tags=["ingest"])


@router.post("/v1/ingest/falco", status_code=202, summary="Falco events (default endpoint)")
async def falco_default(request: Request, writer: Writer) -> JSONResponse:
    return await falco(request, writer, "default")


@router.post("/v1/ingest/falco/{endpoint}", status_code=202, summary="Falco events")
async def falco(request: Request, writer: Writer, endpoint: Id) -> JSONResponse:
    settings = context(request).config.ingest.falco_endpoint(endpoint)
    if settings is None:
        raise NotFoundError(
            f"no Falco ingest endpoint {endpoint!r} in clearance.yaml (ingest.falco)"
        )
    normalizer = FalcoNormalizer.from_config(settings.source, settings)
    return await _receive(request, writer, normalizer, settings.source, f"falco/{endpoint}")


@router.post("/v1/ingest/ocsf", status_code=202, summary="OCSF Detection Findings")
async def ocsf_default(request: Request, writer: Writer) -> JSONResponse:
    return await ocsf(request, writer, "default")


@router.post("/v1/ingest/ocsf/{endpoint}", status_code=202, summary="OCSF Detection Findings")
async def ocsf(request: Request, writer: Writer, endpoint: Id) -> JSONResponse:
    settings = context(request).config.ingest.ocsf_endpoint(endpoint)
    if settings is None:
        raise NotFoundError(f"no OCSF ingest endpoint {endpoint!r} in clearance.yaml (ingest.ocsf)")
    normalizer = OcsfNormalizer(settings.source, cluster=settings.cluster)
    return await _receive(request, writer, normalizer, settings.source, f"ocsf/{endpoint}")


async def _receive(
    request: Request,
    writer: Principal,
    normalizer: FalcoNormalizer | OcsfNormalizer,
    source: str,
    where: str,
) -> JSONResponse:
    ctx = context(request)
    refusal = writer.may_write(source, ctx.pulled)
    if refusal is not None:
        ctx.metrics.refused_writes.labels(source, "not_allowed").inc()
        raise ScopeError(f"POST {where}: {refusal}")
    data = await request.body()  # at most the route's limit: the request guard cuts it off
    if not data.strip():
        raise InvalidInputError("the body is empty", [{"field": "body", "problem": "empty"}])
    batch = normalizer.normalize(data, location=f"POST {where}")
    stored = await run_in_threadpool(ctx.store_batch, batch, source, ctx.clock())
    ctx.decisions.health_cache.clear()
    ctx.metrics.ingested(source, stored.signals, stored.quarantined)
    body = _answer(stored, batch, getattr(normalizer, "skipped", {}))
    if stored.quarantined and not stored.signals and not body["skipped"]:
        items = body["quarantined_items"]
        first = items[0]["problem"] if items else "seen later than the service's clock allows"
        raise InvalidInputError(
            f"nothing in the body could be used; {stored.quarantined} item(s) quarantined "
            f"under source {source!r}. First: {first}",
            body["quarantined_items"],
            result=body,
        )
    return JSONResponse(body, status_code=202)


def _answer(stored: Stored, batch: Batch, skipped: Any) -> dict[str, Any]:
    return {
        **stored.to_dict(),
        "skipped": dict(sorted(skipped.items())),
        "quarantined_items": [
            {"field": q.location, "problem": f"{q.reason}: {q.detail}", "digest": q.digest}
            for q in batch.quarantined
        ],
    }
