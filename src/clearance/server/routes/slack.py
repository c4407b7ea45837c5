"""``POST /v1/integrations/slack/interactions``: Approve / Reject clicked in Slack.

Mounted when ``notify.slack`` is set. The request is verified with the Slack app's signing
secret within the replay window (:mod:`clearance.integrations.slack`) before anything is read
from it; the clicking Slack user acts only as the person ``notify.slack.users`` maps them to,
with that entry's groups, through the same ``ApprovalBook.answer`` as the API, so every rule
holds (the requester cannot approve, the group, N of M). The outcome, or the refusal and its
reason, is posted back to the payload's ``response_url`` (only on Slack's host) for the clicker.
"""

from __future__ import annotations

import logging

import httpx
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from clearance.errors import CallerError, ClearanceError, InvalidPrincipalError, SignatureError
from clearance.integrations.slack import Click, click, verify
from clearance.server.errors import problem, status_of
from clearance.server.routes._deps import context
from clearance.service.channels import APPROVE_ACTION, REJECT_ACTION
from clearance.store.interface import ApprovalOutcome, Caller

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/integrations/slack", tags=["integrations"])
_OUTCOMES = {APPROVE_ACTION: ApprovalOutcome.APPROVE, REJECT_ACTION: ApprovalOutcome.REJECT}


@router.post("/interactions", summary="A Slack button click (signed by Slack)")
async def interactions(request: Request, background: BackgroundTasks) -> JSONResponse:
    ctx = context(request)
    slack = ctx.settings.notify.slack
    assert slack is not None  # mounted only with it
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        verify(
            slack.signing_secret.get_secret_value().encode(),
            headers,
            body,
            ctx.clock(),
            slack.replay_window,
        )
        clicked = click(body)
    except SignatureError as exc:
        logger.warning("Slack interaction refused: %s", exc)
        return problem(401, "unauthenticated", str(exc))
    except CallerError as exc:
        return problem(400, "invalid input", str(exc))
    outcome = _OUTCOMES.get(clicked.action_id)
    if outcome is None:  # "Open decision" is a link: Slack still reports the click
        return JSONResponse({"ok": True})
    person = slack.users.get(clicked.user_id)
    if person is None:
        text = (
            f"Slack user {clicked.user_id} is not mapped to a person in Clearance "
            "(notify.slack.users): nothing was done"
        )
        _reply(background, clicked, slack.response_url_prefix, text)
        return problem(403, "forbidden", text)
    try:
        subject = ctx.auth.principals.canonical(person.principal)
    except InvalidPrincipalError as exc:  # pragma: no cover - validated by the settings' users
        return problem(403, "forbidden", str(exc))
    caller = Caller(subject=subject, method="slack", groups=tuple(sorted(person.groups)))
    reason = f"{outcome.value} clicked in Slack by {clicked.user_name or clicked.user_id}"
    decision_id = clicked.value

    def act() -> tuple[str, int]:
        before = ctx.decisions.get(decision_id).state.status
        ctx.approvals.answer(decision_id, caller, outcome, reason, ctx.clock())
        after = ctx.decisions.get(decision_id).state
        background.add_task(ctx.settle, decision_id, before, after.status)
        return after.status.value, 200

    try:
        status, code = await run_in_threadpool(act)
    except ClearanceError as exc:
        text = f"Refused: {exc}"
        _reply(background, clicked, slack.response_url_prefix, text)
        code, title = status_of(exc)
        return problem(code, title, str(exc))
    text = f"{subject}'s {outcome.value} of {decision_id} was recorded; it is now {status}."
    _reply(background, clicked, slack.response_url_prefix, text)
    return JSONResponse({"ok": True, "decision": decision_id, "status": status}, status_code=code)


def _reply(background: BackgroundTasks, clicked: Click, prefix: str, text: str) -> None:
    url = clicked.response_url
    if url is None or not url.startswith(prefix):
        return

    def post() -> None:
        body = {"response_type": "ephemeral", "replace_original": False, "text": text}
        try:
            httpx.post(url, json=body, timeout=5.0)
        except httpx.HTTPError as exc:
            logger.warning("could not answer a Slack click: %s", type(exc).__name__)

    background.add_task(post)
