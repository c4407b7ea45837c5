"""``/v1/exceptions`` (admin) and ``/v1/break-glass`` (confirm, list)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse

from clearance.errors import InvalidInputError
from clearance.model.exemptions import Exemption
from clearance.model.signal import format_time, utc
from clearance.server.bodies import ExceptionRequest
from clearance.server.routes._deps import Admin, Approver, Decider, Id, context
from clearance.service.breakglass import describe
from clearance.service.exception_rules import ExceptionScope, problems
from clearance.store.interface import ExemptionRecord

router = APIRouter(tags=["exceptions and break-glass"])


def exemption_json(record: ExemptionRecord, now: Any) -> dict[str, Any]:
    return {
        **record.exemption.to_dict(),
        "created_at": format_time(utc(record.created_at)),
        "revoked_at": None if record.revoked_at is None else format_time(utc(record.revoked_at)),
        "revoked_by": record.revoked_by,
        "active": record.active(now),
    }


@router.post("/v1/exceptions", status_code=201, summary="Waive one finding on one target")
def create(body: ExceptionRequest, request: Request, who: Admin) -> JSONResponse:
    """Checked against the policy first (service/exception_rules.py): one literal target, a rule
    of the policy (never a failure stance), a lifetime within the environment's bound."""
    ctx = context(request)
    now = ctx.clock()
    scope = ExceptionScope(
        environment=body.environment,
        cluster=body.cluster,
        namespace=body.namespace,
        workload=body.workload,
        signal=body.signal,
        rule=body.rule,
        expires=body.expires,
    )
    found = problems(scope, ctx.policy, now)
    if found:
        errors = [{"field": f"body.{name}", "problem": text} for name, text in found]
        raise InvalidInputError(f"{errors[0]['field']}: {errors[0]['problem']}", errors)
    exemption = Exemption(
        id=body.id or "exc_" + secrets.token_hex(6),
        signal=body.signal,
        rule=body.rule,
        environment=body.environment,
        cluster=body.cluster,
        namespace=body.namespace,
        workload=body.workload,
        expires=body.expires,
        reason=body.reason,
        ticket=body.ticket,
        approver=who.subject,
        created_by=who.subject,
    )
    record = ctx.store.add_exemption(exemption, now)
    ctx.decisions.exemption_cache.clear()
    return JSONResponse({"exception": exemption_json(record, now)}, status_code=201)


@router.get("/v1/exceptions", summary="Exceptions (active only, unless include_inactive)")
def listing(request: Request, _caller: Decider, include_inactive: bool = False) -> dict[str, Any]:
    ctx = context(request)
    now = ctx.clock()
    records = ctx.store.list_exemptions(now, include_inactive=include_inactive)
    return {"exceptions": [exemption_json(r, now) for r in records]}


@router.delete("/v1/exceptions/{exception_id}", summary="Revoke an exception")
def revoke(exception_id: Id, request: Request, who: Admin) -> dict[str, Any]:
    ctx = context(request)
    now = ctx.clock()
    revoked = ctx.store.revoke_exemption(exception_id, who.subject, now)
    ctx.decisions.exemption_cache.clear()
    return {"exception": exemption_json(revoked, now)}


@router.post("/v1/break-glass/{grant_id}/confirm", summary="Second-person confirmation")
def confirm(
    grant_id: Id, request: Request, who: Approver, background: BackgroundTasks
) -> dict[str, Any]:
    ctx = context(request)
    grant = ctx.break_glass.confirm(grant_id, who, ctx.clock())
    if grant.decision_id is not None:  # a confirmed grant releases the decision it was asked on
        after = ctx.decisions.get(grant.decision_id).state.status
        background.add_task(ctx.settle, grant.decision_id, None, after)
    return {"break_glass": describe(grant)}


@router.get("/v1/break-glass", summary="Break-glass grants (live only, unless include_expired)")
def grants(request: Request, _caller: Decider, include_expired: bool = False) -> dict[str, Any]:
    ctx = context(request)
    found = ctx.store.list_break_glass(ctx.clock(), include_expired=include_expired)
    return {"break_glass": [describe(g) for g in found]}
