"""The console's history and health pages: decisions with filters, sources with freshness and
quarantine counts, and exceptions (active and past, the soon-expiring marked; revoked here by an
admin, through the same store call as ``DELETE /v1/exceptions/{id}``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from clearance.errors import ClearanceError
from clearance.model.signal import format_time, utc
from clearance.policy.freshness import describe_age
from clearance.server.console.chart import risk_chart
from clearance.server.console.routes import acting, console_of, viewing
from clearance.server.errors import status_of
from clearance.service.signers import requested_by
from clearance.store.interface import DecisionFilter, Scope

router = APIRouter(include_in_schema=False)
EXPIRING_SOON = timedelta(days=1)
PAGE = 50


def _when(text: str | None, field: str) -> tuple[datetime | None, str | None]:
    if not text:
        return None, None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None, f"{field}: not a time (use 2026-11-28T12:00:00Z)"
    if moment.tzinfo is None:
        return None, f"{field}: give a time zone (Z or +01:00)"
    return utc(moment), None


@router.get("/console/history")
def history(
    request: Request,
    environment: str = "",
    verdict: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
    cursor: str = "",
) -> Response:
    console = console_of(request)
    session = viewing(console, request)
    if isinstance(session, Response):
        return session
    ctx = console.ctx
    start, bad_since = _when(since, "since")
    end, bad_until = _when(until, "until")
    error = bad_since or bad_until
    if verdict and verdict not in ("proceed", "approve", "block"):
        error = "verdict: one of proceed, approve, block"
    if cursor and not cursor.isdigit():
        error = "cursor: not a cursor this page gave"
    records: list[dict[str, Any]] = []
    next_link = None
    if error is None:
        filters = DecisionFilter(
            environment=environment or None,
            verdict=verdict or None,
            target_key=target or None,
            since=start,
            until=end,
        )
        page = ctx.store.list_decisions(filters, limit=PAGE, cursor=cursor or None)
        for r in page.records:
            t = r.decision["target"]
            records.append(
                {
                    "id": r.decision_id,
                    "at": format_time(utc(r.at)),
                    "environment": t["environment"],
                    "target": f"{t['cluster']}/{t['namespace']}/{t['workload']}",
                    "verdict": r.decision["verdict"],
                    "score": float(r.decision["score"]),
                    "requester": requested_by(r),
                    "thresholds": r.decision["thresholds"],
                }
            )
        if page.next_cursor:
            query = {"environment": environment, "verdict": verdict, "target": target,
                     "since": since, "until": until, "cursor": page.next_cursor}  # fmt: skip
            next_link = "/console/history?" + urlencode({k: v for k, v in query.items() if v})
    filters_shown = {"environment": environment, "verdict": verdict, "target": target,
                     "since": since, "until": until}  # fmt: skip
    return console.page(
        "history.html",
        session,
        400 if error else 200,
        records=records,
        chart=risk_chart(records),
        filters=filters_shown,
        environments=sorted(ctx.policy.document.environments),
        error=error,
        next_link=next_link,
    )


@router.get("/console/sources")
def sources(request: Request) -> Response:
    console = console_of(request)
    session = viewing(console, request)
    if isinstance(session, Response):
        return session
    now = utc(console.ctx.clock())
    rows = []
    for state in console.ctx.store.source_states():
        age = None
        if state.last_success is not None:
            age = describe_age(max(int((now - utc(state.last_success)).total_seconds()), 0))
        rows.append(
            {
                "name": state.name,
                "last_success": format_time(utc(state.last_success))
                if state.last_success
                else None,
                "age": age or "never",
                "last_error": state.last_error,
                "quarantined": sum(state.quarantined.values()),
                "by_reason": dict(state.quarantined),
                "dropped": state.quarantine_dropped,
                "unreadable": state.unreadable,
            }
        )
    return console.page("sources.html", session, rows=rows)


@router.get("/console/exceptions")
def exceptions(request: Request, error: str | None = None) -> Response:
    console = console_of(request)
    session = viewing(console, request)
    if isinstance(session, Response):
        return session
    now = utc(console.ctx.clock())
    rows = []
    for record in console.ctx.store.list_exemptions(now, include_inactive=True):
        e = record.exemption
        active = record.active(now)
        rows.append(
            {
                "id": e.id,
                "what": e.signal or e.rule,
                "target": f"{e.environment} · {e.cluster}/{e.namespace}/{e.workload}",
                "expires": format_time(utc(e.expires)),
                "soon": active and utc(e.expires) - now <= EXPIRING_SOON,
                "active": active,
                "revoked_by": record.revoked_by,
                "reason": e.reason,
                "ticket": e.ticket,
                "approver": e.approver,
            }
        )
    rows.sort(key=lambda r: (not r["active"], r["expires"]))
    admin = Scope.ADMIN in session.scopes
    return console.page("exceptions.html", session, rows=rows, admin=admin, error=error)


@router.post("/console/exceptions/{exception_id}/revoke")
def revoke(request: Request, exception_id: str, csrf: Annotated[str, Form()] = "") -> Response:
    console = console_of(request)
    session = acting(
        console,
        request,
        csrf,
        may=lambda s: Scope.ADMIN in s.scopes,
        refusal=lambda s: "revoking an exception needs 'admin'",
    )
    if isinstance(session, Response):
        return session
    ctx = console.ctx
    try:
        ctx.store.revoke_exemption(exception_id, session.subject, ctx.clock())
    except ClearanceError as exc:
        code, title = status_of(exc)
        return console.refuse(session, code, title.capitalize(), str(exc))
    ctx.decisions.exemption_cache.clear()
    return RedirectResponse("/console/exceptions", status_code=303)
