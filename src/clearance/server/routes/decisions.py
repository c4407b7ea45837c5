"""``/v1/decisions``: ask, read, list; approvals and break-glass on one decision."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from clearance.errors import InvalidInputError, ReportError
from clearance.model.checks import PostDeployCheck
from clearance.model.reports import Report
from clearance.model.signal import format_time, utc
from clearance.model.status import ApprovalStatus
from clearance.model.target import ChangeInfo, Target
from clearance.server.app import ServerContext
from clearance.server.bodies import (
    ApprovalRequest,
    BreakGlassRequest,
    CheckRequest,
    DecisionRequest,
    EvidenceReport,
    Name,
    in_utc,
)
from clearance.server.intake import budget_from_header
from clearance.server.responses import FastJSONResponse
from clearance.server.routes._deps import Approver, Decider, Id, context
from clearance.service.approvals import ApprovalState
from clearance.service.breakglass import describe
from clearance.service.decisions import Outcome
from clearance.service.notifications import shown
from clearance.service.signers import requested_by
from clearance.sources.reports import read_report
from clearance.store.interface import Approval, ApprovalOutcome, Caller, DecisionFilter

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])


@router.post("", status_code=200, summary="Decide a deploy (recorded before it is returned)")
async def ask(body: DecisionRequest, request: Request, who: Decider) -> JSONResponse:
    """Admitted on the event loop before any thread is taken (clearance.server.intake): past
    ``max_in_flight`` a request waits at most ``queue_wait`` or its ``X-Clearance-Timeout``,
    then 429; one whose deadline passes before it is computed or recorded leaves no record."""
    ctx = context(request)
    deadline = ctx.intake.deadline(
        getattr(request.state, "arrived", None),
        budget_from_header(request.headers),
        "the request's X-Clearance-Timeout",
    )
    async with ctx.intake.admitted(deadline):
        answer = await run_in_threadpool(_ask, ctx, body, who, deadline.check)
    # A Response passes through as is: the decision is plain JSON already, and walking it with
    # FastAPI's encoder cost more than deciding it.
    return FastJSONResponse(answer)


def _ask(
    ctx: ServerContext, body: DecisionRequest, who: Caller, deadline: Callable[[str], object]
) -> dict[str, object]:
    change = body.change
    target = Target.of(
        environment=body.environment,
        cluster=body.cluster,
        namespace=body.namespace,
        workload=body.workload,
        images=tuple(body.images),
        change=ChangeInfo(
            commit=change.commit if change else None,
            pipeline_run=change.pipeline_run if change else None,
            actor=change.actor if change else None,
        ),
    )
    reports = _reports(body)
    outcome = ctx.decide(
        target, who, body.manifest, computing=ctx.computing, reports=reports, deadline=deadline
    )
    return outcome.to_dict()


def _reports(body: DecisionRequest) -> tuple[Report, ...]:
    """Each of the request's reports parsed, or a 422 naming the one that cannot be read."""
    return tuple(
        _parsed(item, f"body.evidence[{i}].content") for i, item in enumerate(body.evidence)
    )


def _parsed(item: EvidenceReport, field: str) -> Report:
    try:
        # surrogatepass: a JSON string may hold a lone surrogate; the parser then refuses
        # the bytes as it refuses any broken report (422), instead of failing here (500).
        data = item.content.encode("utf-8", "surrogatepass")
        return read_report(item.format, item.name, data)
    except ReportError as exc:
        raise InvalidInputError(f"{field}: {exc}", [{"field": field, "problem": str(exc)}]) from exc


@router.get("/{decision_id}", summary="A recorded decision and where it stands now")
def read(decision_id: Id, request: Request, _caller: Decider) -> JSONResponse:
    """With ``callbacks`` when an integration answered for it (a GitHub gate), so a callback
    that failed is seen with the decision, whichever replica sent it."""
    ctx = context(request)
    body = ctx.decisions.get(decision_id).to_dict()
    callbacks = ctx.store.list_callbacks(decision_id=decision_id)
    if callbacks:
        body["callbacks"] = [shown(c) for c in callbacks]
    return JSONResponse(body)


@router.get("", summary="Recorded decisions, newest first")
def listing(
    request: Request,
    _caller: Decider,
    environment: Annotated[Name | None, Query()] = None,
    verdict: Annotated[str | None, Query(pattern="^(proceed|approve|block)$")] = None,
    target: Annotated[str | None, Query(max_length=600, pattern=r"^[^\x00-\x1f]+$")] = None,
    actor: Annotated[Name | None, Query()] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> dict[str, Any]:
    ctx = context(request)
    bounds: dict[str, datetime | None] = {"since": since, "until": until}
    for name, moment in bounds.items():
        if moment is None:
            continue
        try:
            bounds[name] = in_utc(moment, name)
        except ValueError as exc:
            raise InvalidInputError(
                f"query.{name}: {exc}", [{"field": f"query.{name}", "problem": str(exc)}]
            ) from exc
    filters = DecisionFilter(
        environment=environment,
        verdict=verdict,
        target_key=target,
        actor=actor,
        since=bounds["since"],
        until=bounds["until"],
    )
    page = ctx.store.list_decisions(filters, limit=limit, cursor=cursor)
    return {
        "decisions": [
            {
                "id": r.decision_id,
                "seq": r.seq,
                "at": format_time(utc(r.at)),
                "verdict": r.decision["verdict"],
                "score": r.decision["score"],
                "target": r.decision["target"],
                "requested_by": requested_by(r),
            }
            for r in page.records
        ],
        "next_cursor": page.next_cursor,
    }


def approval_json(a: Approval) -> dict[str, Any]:
    return {
        "id": a.id,
        "decision_id": a.decision_id,
        "approver": a.approver,
        "outcome": a.outcome.value,
        "reason": a.reason,
        "at": format_time(utc(a.at)),
        "expires_at": None if a.expires_at is None else format_time(utc(a.expires_at)),
        "score": a.score,
        "signals": list(a.signals),
        "artifact": None
        if a.artifact is None
        else {"images": list(a.artifact.images), "commit": a.artifact.commit},
    }


@router.post("/{decision_id}/approvals", status_code=201, summary="Approve or reject")
def answer(
    decision_id: Id,
    body: ApprovalRequest,
    request: Request,
    who: Approver,
    background: BackgroundTasks,
) -> JSONResponse:
    ctx = context(request)
    before = ctx.decisions.get(decision_id).state
    approval = ctx.approvals.answer(
        decision_id, who, ApprovalOutcome(body.outcome), body.reason, ctx.clock()
    )
    after: Outcome = ctx.decisions.get(decision_id)
    _observe_wait(ctx.metrics.approval_wait.observe, before, after.state)
    background.add_task(ctx.settle, decision_id, before.status, after.state.status)
    return JSONResponse(
        {"approval": approval_json(approval), "decision": after.to_dict()}, status_code=201
    )


def _observe_wait(observe: Any, before: ApprovalState, after: ApprovalState) -> None:
    approved = ApprovalStatus.APPROVED
    if before.status is not approved and after.status is approved and after.waited_seconds:
        observe(max(after.waited_seconds, 0.0))


@router.post(
    "/{decision_id}/deployed", status_code=200, summary="Say this decision's deploy happened"
)
def deployed(decision_id: Id, request: Request, who: Decider) -> dict[str, Any]:
    """The target is then watched after the deploy (clearance.service.watch): an alert when it
    would be blocked on new evidence. 404 for an unknown decision."""
    ctx = context(request)
    noted = ctx.store.note_deployed(decision_id, "api", who.subject, ctx.clock())
    return {
        "deployment": {
            "decision_id": noted.decision_id,
            "target": noted.target,
            "via": noted.via,
            "by": noted.by,
            "at": format_time(noted.deployed_at),
        },
        "watched": ctx.watcher is not None and ctx.settings.watch.interval is not None,
    }


@router.post(
    "/{decision_id}/checks", status_code=201, summary="Record a post-deploy check of its deploy"
)
def record_check(
    decision_id: Id, body: CheckRequest, request: Request, who: Decider
) -> dict[str, Any]:
    """A smoke test or health check run after this decision's deploy (a JUnit report). Its
    failed tests count in later decisions of the same target and of the same release (image
    digests) in other environments (``health`` signals, rule ``smoke``); recorded in the audit
    chain. 404 for an unknown decision; 422 naming the field for a report that cannot be read
    or that is not a test report."""
    if body.report.format != "junit":
        problem = "a post-deploy check is a test report: junit"
        raise InvalidInputError(
            f"body.report.format: {problem}", [{"field": "body.report.format", "problem": problem}]
        )
    report = _parsed(body.report, "body.report.content")
    ctx = context(request)
    check = ctx.store.record_check(decision_id, report, who.subject, ctx.clock())
    return {"check": check_json(check)}


@router.get("/{decision_id}/checks", summary="Post-deploy checks recorded for this decision")
def checks(decision_id: Id, request: Request, _caller: Decider) -> dict[str, Any]:
    ctx = context(request)
    ctx.store.get_decision(decision_id)  # 404 for an unknown id
    return {"checks": [check_json(c) for c in ctx.store.list_checks(decision_id)]}


def check_json(check: PostDeployCheck) -> dict[str, Any]:
    return {
        "id": check.id,
        "decision_id": check.decision_id,
        "environment": check.environment,
        "target_key": check.target_key,
        "at": format_time(check.at),
        "summary": check.report.summary(),
        "failed": check.failed,
        "failures": [f.title for f in check.report.findings if not f.suppressed],
    }


@router.get("/{decision_id}/approvals", summary="Approvals given on this decision")
def approvals(decision_id: Id, request: Request, _caller: Decider) -> dict[str, Any]:
    ctx = context(request)
    ctx.store.get_decision(decision_id)  # 404 for an unknown id
    return {"approvals": [approval_json(a) for a in ctx.store.list_approvals(decision_id)]}


@router.post(
    "/{decision_id}/break-glass", status_code=201, summary="Audited proceed-anyway (notifies)"
)
def break_glass(
    decision_id: Id,
    body: BreakGlassRequest,
    request: Request,
    who: Approver,
    background: BackgroundTasks,
) -> JSONResponse:
    ctx = context(request)
    before = ctx.decisions.get(decision_id).state.status
    grant = ctx.break_glass.request(decision_id, who, body.reason, body.ticket, ctx.clock())
    after = ctx.decisions.get(decision_id).state.status
    background.add_task(ctx.settle, decision_id, before, after)
    return JSONResponse(
        {
            "break_glass": describe(grant),
            "needs_second_person": ctx.break_glass.rules.second_person,
        },
        status_code=201,
    )
