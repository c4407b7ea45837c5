"""The console's routes: sign-in, the queue, the decision page and its forms.

Every page needs a session (else it redirects to sign-in, coming back to the same page); every
form needs its session's CSRF token (else 403, nothing done); approving, rejecting and
break-glass need the approver role and go through the same service functions as the API, so
every rule the API enforces (N of M, the group, the requester refused, the artifact and the
evidence bound) holds here by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from clearance.errors import ClearanceError, SignInError
from clearance.policy.schema import duration_seconds
from clearance.server.app import ServerContext
from clearance.server.bodies import ApprovalRequest, BreakGlassRequest
from clearance.server.console.oidc import LoginFlow
from clearance.server.console.session import (
    LOGIN_COOKIE,
    LOGIN_LIFETIME,
    SESSION_COOKIE,
    Cookies,
    Session,
    cookie_options,
    safe_next,
)
from clearance.server.console.views import decision_view, pending
from clearance.server.errors import status_of
from clearance.store.interface import ApprovalOutcome

STYLE = resources.files("clearance.server.console").joinpath("static/console.css")


class Console:
    """The console of one service: its settings, cookies, sign-in flow and templates."""

    def __init__(self, ctx: ServerContext) -> None:
        settings = ctx.settings.console
        assert settings is not None
        self.ctx = ctx
        self.settings = settings
        self.cookies = Cookies(
            settings.session_secret.get_secret_value(), _seconds(settings.session_lifetime)
        )
        self.flow = LoginFlow(settings, ctx.auth)
        self.templates = Environment(
            loader=PackageLoader("clearance.server.console", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def session(self, request: Request) -> Session | None:
        return self.cookies.read_session(request.cookies.get(SESSION_COOKIE))

    def page(
        self, name: str, session: Session | None, status: int = 200, **values: Any
    ) -> HTMLResponse:
        html = self.templates.get_template(name).render(session=session, **values)
        response = HTMLResponse(html, status_code=status)
        # Pages hold decisions and a CSRF token: never cached, never framed, nothing inline.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    def refuse(self, session: Session | None, status: int, title: str, detail: str) -> HTMLResponse:
        return self.page("message.html", session, status, title=title, detail=detail)


def _seconds(duration: str) -> int:
    return int(duration_seconds(duration))


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def sign_in_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/login?next={quote(here, safe='')}", status_code=303)


router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/console/queue", status_code=303)


@router.get("/console/static/console.css")
def style() -> Response:
    return Response(
        STYLE.read_bytes(),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/console/login")
def login(request: Request, next: str | None = None) -> Response:
    console = console_of(request)
    try:
        started = console.flow.start()
    except SignInError as exc:
        return console.refuse(None, 502, "Sign-in is unavailable", str(exc))
    response = RedirectResponse(started.url, status_code=303)
    value = console.cookies.login(started.state, started.nonce, started.verifier, safe_next(next))
    response.set_cookie(LOGIN_COOKIE, value, **cookie_options(LOGIN_LIFETIME))
    return response


@router.get("/console/callback")
def callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    console = console_of(request)
    login_state = console.cookies.read_login(request.cookies.get(LOGIN_COOKIE))
    if error is not None:
        return console.refuse(None, 401, "Sign-in refused", f"the issuer answered: {error[:200]}")
    if login_state is None or code is None or state is None:
        return console.refuse(
            None, 400, "Sign-in expired", "this sign-in was not started here or took too long"
        )
    try:
        signed = console.flow.finish(code, state, login_state, console.ctx.clock().astimezone(UTC))
    except SignInError as exc:
        return console.refuse(None, 401, "Sign-in refused", str(exc))
    caller = signed.principal.caller
    _, value = console.cookies.session(
        caller.subject, caller.issuer or "", caller.groups, signed.principal.scopes, signed.name
    )
    response = RedirectResponse(login_state["next"], status_code=303)
    response.set_cookie(SESSION_COOKIE, value, **cookie_options(console.cookies.lifetime))
    response.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    return response


@router.post("/console/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    console = console_of(request)
    session = console.session(request)
    if session is None or not session.csrf_ok(csrf):
        return console.refuse(session, 403, "Refused", "the form's CSRF token is missing or wrong")
    response = console.page("message.html", None, title="Signed out", detail="You signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    return response


@router.get("/console/queue")
def queue(request: Request) -> Response:
    console = console_of(request)
    session = viewing(console, request)
    if isinstance(session, Response):
        return session
    ctx = console.ctx
    return console.page(
        "queue.html", session, environments=pending(ctx.decisions, ctx.store, ctx.clock())
    )


@router.get("/decisions/{decision_id}")
def decision(request: Request, decision_id: str, done: str | None = None) -> Response:
    console = console_of(request)
    session = viewing(console, request)
    if isinstance(session, Response):
        return session
    return _decision_page(console, session, decision_id, notice=_notice(done))


@router.post("/decisions/{decision_id}/answer")
def answer(
    request: Request,
    decision_id: str,
    background: BackgroundTasks,
    csrf: Annotated[str, Form()] = "",
    outcome: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    def approve(session: Session, ctx: ServerContext) -> str:
        body = ApprovalRequest.model_validate({"outcome": outcome, "reason": reason})
        ctx.approvals.answer(
            decision_id, session.caller, ApprovalOutcome(body.outcome), body.reason, ctx.clock()
        )
        return body.outcome

    return _act(console_of(request), request, decision_id, csrf, background, approve, timed=True)


@router.post("/decisions/{decision_id}/break-glass")
def break_glass(
    request: Request,
    decision_id: str,
    background: BackgroundTasks,
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    ticket: Annotated[str, Form()] = "",
) -> Response:
    def override(session: Session, ctx: ServerContext) -> str:
        body = BreakGlassRequest.model_validate({"reason": reason, "ticket": ticket})
        ctx.break_glass.request(decision_id, session.caller, body.reason, body.ticket, ctx.clock())
        return "break-glass"

    return _act(console_of(request), request, decision_id, csrf, background, override, timed=False)


def _act(
    console: Console,
    request: Request,
    decision_id: str,
    csrf: str,
    background: BackgroundTasks,
    change: Callable[[Session, ServerContext], str],
    *,
    timed: bool,
) -> Response:
    """One form that changes a decision: the approver's session and CSRF token checked, then
    ``change`` (which reads the form and calls the service, returning the ``done`` notice key);
    a refusal re-renders the decision page with the error. ``timed``: the change may end the
    wait for approval, which the ``approval_wait`` metric observes."""
    session = acting(
        console,
        request,
        csrf,
        may=lambda s: s.approver,
        refusal=lambda s: f"{s.subject} may view decisions but not answer them",
    )
    if isinstance(session, Response):
        return session
    ctx = console.ctx
    try:
        before = ctx.decisions.get(decision_id).state
        done = change(session, ctx)
        after = ctx.decisions.get(decision_id).state
    except ValidationError as exc:
        return _decision_page(console, session, decision_id, error=_field_error(exc), status=422)
    except ClearanceError as exc:
        return _decision_page(
            console, session, decision_id, error=str(exc), status=status_of(exc)[0]
        )
    if timed and after.waited_seconds and before.status is not after.status:
        ctx.metrics.approval_wait.observe(max(after.waited_seconds, 0.0))
    background.add_task(ctx.settle, decision_id, before.status, after.status)
    return RedirectResponse(f"/decisions/{quote(decision_id)}?done={done}", status_code=303)


def viewing(console: Console, request: Request) -> Session | Response:
    """The signed-in session that may view the console, or the answer to give instead: the
    sign-in page for no session, "no access" for a person with neither role."""
    session = console.session(request)
    if session is None:
        return sign_in_redirect(request)
    if not session.viewer:
        return no_role(console, session)
    return session


def acting(
    console: Console,
    request: Request,
    csrf: str,
    *,
    may: Callable[[Session], bool],
    refusal: Callable[[Session], str],
) -> Session | Response:
    """The signed-in session whose form may change something, or the answer to give instead
    (nothing was done): 401 signed out, 403 for a missing or wrong CSRF token, 403 with
    ``refusal`` when ``may`` says the person lacks the role."""
    session = console.session(request)
    if session is None:
        return console.refuse(None, 401, "Signed out", "sign in again, then retry")
    if not session.csrf_ok(csrf):
        return console.refuse(
            session, 403, "Refused", "the form's CSRF token is missing or wrong: nothing was done"
        )
    if not may(session):
        return console.refuse(session, 403, "Refused", refusal(session))
    return session


def _decision_page(
    console: Console,
    session: Session,
    decision_id: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    ctx = console.ctx
    try:
        outcome = ctx.decisions.get(decision_id)
    except ClearanceError as exc:
        code, title = status_of(exc)
        return console.refuse(session, code, title.capitalize(), str(exc))
    view = decision_view(outcome, ctx.store)
    return console.page("decision.html", session, status, view=view, notice=notice, error=error)


def _notice(done: str | None) -> str | None:
    return {
        "approve": "Your approval was recorded.",
        "reject": "Your rejection was recorded.",
        "break-glass": "Break-glass was recorded.",
    }.get(done or "")


def _field_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "form"
    return f"{field}: {first['msg']}"


def no_role(console: Console, session: Session) -> HTMLResponse:
    return console.refuse(
        session,
        403,
        "No access",
        f"{session.subject} signed in, but the issuer's rules grant no console role "
        "(read-only needs the 'decide' scope, approver 'approve'); see docs/console.md",
    )
