"""HTTP routes of the integrations: GitHub protection rules, admission, Argo Rollouts, Flagger.

Mount with one line: ``app.include_router(integration_router(deps))``. The routes decide through
``deps.decider`` (the decision service) and never answer 500: what Clearance cannot decide is
answered in the dialect's own terms (admission: the configured stance; Flagger: 403 hold; GitHub:
``rejected`` with the reason), and malformed bodies are 4xx naming the field.

    POST /v1/integrations/github/webhook            X-Hub-Signature-256, 202, decide later;
                                                    a replayed X-GitHub-Delivery: 409
    GET  /v1/integrations/github/deliveries         failed callbacks (admin view)
    GET  /v1/integrations/github/deliveries/{id}    every callback attempt for a decision
    POST /v1/integrations/k8s/admission             AdmissionReview v1 in/out
    GET|POST /v1/integrations/argo/measurement      Argo Rollouts web metric
    POST /v1/integrations/flagger/{hook}            pre-rollout, confirm-rollout, confirm-promotion
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from clearance.errors import ClearanceError, PayloadError, ScopeError, SignatureError, TargetError
from clearance.integrations import admission, argo, flagger, github
from clearance.integrations.github_checks import GitHubChecks
from clearance.integrations.github_gates import GitHubGates
from clearance.integrations.interface import Answer, Authenticator, Decider
from clearance.integrations.metrics import IntegrationMetrics
from clearance.integrations.settings import IntegrationSettings
from clearance.model.decision import Verdict
from clearance.server.guard import JsonBodyError, client_names, parse_json, principal_of
from clearance.server.intake import Deadline, Intake, go_duration
from clearance.server.responses import FastJSONResponse
from clearance.store.interface import Caller, Scope

logger = logging.getLogger(__name__)


@dataclass
class IntegrationDeps:
    decider: Decider
    settings: IntegrationSettings
    authenticate: Authenticator
    metrics: IntegrationMetrics
    github: GitHubGates | None = None  # None: the GitHub webhook answers 404 (not configured)
    checks: GitHubChecks | None = None  # None: no commit's checks are read (github.checks)
    # Decisions in flight in these routes (each on a worker thread); the rest wait their turn
    # in arrival order, until their deadline (clearance.server.intake). The decider bounds the
    # CPU-bound part itself (ServiceDecider.computing: threads fighting over the GIL only
    # stretch the tail); the others in flight are waiting for the audit log, and the more
    # wait, the more records one group commit carries. ``mount`` shares the service's intake
    # (its ``max_in_flight`` and ``queue_wait``); deps built by hand get one of ``concurrency``.
    concurrency: int = 32
    intake: Intake | None = None
    # Note a deploy the integration let through (decision id, integration, caller), so the
    # target is watched after the deploy (clearance.service.watch); None: nothing is noted.
    deployed: Callable[[str, str, str], object] | None = None

    def admission(self) -> Intake:
        if self.intake is None:
            self.intake = Intake(self.concurrency, queue_wait=HAND_BUILT_QUEUE_WAIT)
        return self.intake


HAND_BUILT_QUEUE_WAIT = 60.0  # seconds: deps built without the service wait about as long


def problem(status: int, detail: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": _TITLES.get(status, "Error")}
    body |= {"status": status, "detail": detail}
    if field is not None:
        body["errors"] = [{"field": field, "problem": detail}]
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable",
}


async def _json(request: Request) -> Any:
    """The body as JSON (at most its route's limit: the request guard cuts it off)."""
    try:
        return parse_json(await request.body())
    except JsonBodyError as exc:
        raise PayloadError("body", str(exc)) from exc


def _validate(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise PayloadError(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from exc


def integration_router(deps: IntegrationDeps) -> APIRouter:
    """Every integration route, under ``/v1/integrations``."""
    router = APIRouter(prefix="/v1/integrations", tags=["integrations"])
    for build in (_github_routes, _admission_routes, _argo_routes, _flagger_routes):
        build(router, deps)
    return router


async def _authenticated(
    deps: IntegrationDeps, request: Request, header: str | None
) -> Caller | JSONResponse:
    """The caller, needing the ``decide`` scope (401/403 otherwise). The request guard may
    have authenticated it already, before the body was read."""
    principal = principal_of(request.state)
    try:
        if principal is not None and header == request.headers.get("Authorization"):
            return principal.require(Scope.DECIDE)
        return await run_in_threadpool(deps.authenticate, header)
    except ScopeError as exc:
        return problem(403, str(exc))
    except ClearanceError as exc:
        return problem(401, str(exc))


def deadline_of(deps: IntegrationDeps, request: Request, budget: float | None = None) -> Deadline:
    """The request's deadline: ``budget`` seconds from its arrival (None: only the wait for
    a place is bounded, by ``queue_wait``)."""
    arrived = getattr(request.state, "arrived", None)
    return deps.admission().deadline(arrived, budget, "the caller's timeout")


async def _decide(
    deps: IntegrationDeps,
    integration: str,
    target: Any,
    caller: Caller,
    deadline: Deadline,
    **kw: Any,
) -> Answer:
    # Admitted on the event loop before a thread is taken; the decider asks the deadline again
    # before it computes and before it records.
    async with deps.admission().admitted(deadline):
        ans: Answer = await run_in_threadpool(
            lambda: deps.decider.decide(target, caller, deadline=deadline.check, **kw)
        )
    deps.metrics.observe(integration, ans.decision)
    goes = integration in LETS_THROUGH and ans.recorded and ans.verdict is Verdict.PROCEED
    if deps.deployed is not None and goes:
        await run_in_threadpool(_note, deps.deployed, ans.decision.id, integration, caller)
    return ans


# The integrations whose "go" is the deploy itself: an admitted object is applied, a
# Successful measurement or a 200 hook lets the rollout go on. (A GitHub gate approves a job
# that may still fail before it deploys: it is not noted.)
LETS_THROUGH = frozenset({"admission", "argo", "flagger"})


def _note(
    deployed: Callable[[str, str, str], object], decision_id: str, via: str, caller: Caller
) -> None:
    try:
        deployed(decision_id, via, caller.subject)
    except Exception:  # the answer stands; only the watching of this deploy is lost
        logger.exception("could not note decision %s as deployed", decision_id)


def _github_routes(router: APIRouter, deps: IntegrationDeps) -> None:
    settings = deps.settings

    @router.post("/github/webhook", status_code=202)
    async def github_webhook(request: Request, background: BackgroundTasks) -> Response:
        gates = deps.github
        if gates is None or settings.github is None:
            return problem(404, "the GitHub integration is not configured")
        raw = await request.body()
        try:
            github.verify_signature(
                settings.github.secret(), raw, request.headers.get("X-Hub-Signature-256")
            )
        except SignatureError as exc:
            logger.warning("GitHub webhook refused from %s: %s", _peer(request), exc)
            return problem(401, str(exc))
        event = request.headers.get("X-GitHub-Event", "")
        delivery = request.headers.get("X-GitHub-Delivery", "")
        if event == "ping":
            return JSONResponse({"pong": True}, status_code=200)
        if event != "deployment_protection_rule":
            return JSONResponse({"ignored": event}, status_code=202)
        try:
            parsed = github.parse_request(parse_json(raw), settings.github)
        except JsonBodyError as exc:
            return problem(400, str(exc), "body")
        except PayloadError as exc:
            return problem(400, str(exc), exc.field)
        if not delivery or len(delivery) > 200:
            return problem(400, "X-GitHub-Delivery must name the delivery", "X-GitHub-Delivery")
        # Signed bodies never expire: each delivery is decided once, on whichever replica.
        first = await run_in_threadpool(gates.deliveries.claim, delivery)
        if first is not None:
            logger.warning("GitHub delivery %s replayed from %s: refused", delivery, _peer(request))
            return problem(
                409,
                f"delivery {delivery} was received already ({first.isoformat()}); a replayed "
                "delivery is not decided again: re-run the deployment for a new one",
                "X-GitHub-Delivery",
            )
        background.add_task(gates.handle, parsed, delivery)
        return JSONResponse({"accepted": delivery}, status_code=202)

    @router.get("/github/deliveries/{decision_id}")
    async def github_deliveries(decision_id: str, request: Request) -> Response:
        caller = await _authenticated(deps, request, request.headers.get("Authorization"))
        if isinstance(caller, JSONResponse):
            return caller
        gates = deps.github
        items = gates.app.log.of(decision_id) if gates else []
        return JSONResponse({"deliveries": items})

    @router.get("/github/deliveries")
    async def github_failed(request: Request) -> Response:
        caller = await _authenticated(deps, request, request.headers.get("Authorization"))
        if isinstance(caller, JSONResponse):
            return caller
        gates = deps.github
        items = gates.app.log.failed() if gates else []
        return JSONResponse({"failed": items})


def _admission_routes(router: APIRouter, deps: IntegrationDeps) -> None:
    settings = deps.settings

    @router.post("/k8s/admission")
    async def k8s_admission(request: Request) -> Response:
        cfg = settings.admission
        if cfg is None:
            return problem(404, "the admission integration is not configured")
        # Who is calling, before the body is read: a bearer credential, a verified client
        # certificate naming an allowed subject, or (only with require_auth: false) anyone.
        header = request.headers.get("Authorization")
        names = client_names(request.scope)
        allowed = [n for n in names if n in cfg.client_subjects]
        caller: Caller | JSONResponse
        if header:
            caller = await _authenticated(deps, request, header)
        elif allowed:
            caller = Caller(subject=f"x509:{allowed[0]}", method="mtls")
        elif not cfg.require_auth:
            caller = Caller(subject=f"kube-apiserver:{cfg.cluster}", method="admission")
        else:
            caller = problem(401, "send a bearer token or an allowed client certificate")
        if isinstance(caller, JSONResponse):
            return caller
        try:
            review = admission.parse_review(await _json(request))
        except PayloadError as exc:
            return problem(400, str(exc), exc.field)
        target = admission.target_of(review, cfg)
        if isinstance(target, admission.Unreadable):
            deps.metrics.undecided(cfg.unknown_kind == "allow", "unknown_kind")
            return JSONResponse(
                admission.stance_answer(review, cfg.unknown_kind == "allow", target.why)
            )
        try:
            # A dry run is decided like any request but not recorded as a deploy. The API
            # server gives up after the webhook's timeoutSeconds, which client-go sends as
            # ?timeout=5s on the URL: past it, the answer is the error stance, unrecorded.
            budget = go_duration(request.query_params.get("timeout", ""))
            deadline = deps.admission().deadline(
                getattr(request.state, "arrived", None), budget, "the API server's timeout"
            )
            ans = await _decide(
                deps,
                "admission",
                target,
                caller,
                deadline,
                record=not review.dry_run,
                manifest=review.obj,
            )
        except ClearanceError as exc:
            logger.warning("admission %s: cannot decide: %s", review.uid, exc)
            deps.metrics.undecided(cfg.on_error == "allow", "error")
            return JSONResponse(admission.stance_answer(review, cfg.on_error == "allow", str(exc)))
        except Exception:
            # Never leave the API server without an answer (it would apply failurePolicy,
            # which may be Ignore): a failure here is the configured error stance, logged.
            logger.exception("admission %s: deciding failed", review.uid)
            why = "Clearance failed while deciding (see its log)"
            deps.metrics.undecided(cfg.on_error == "allow", "error")
            return JSONResponse(admission.stance_answer(review, cfg.on_error == "allow", why))
        url = settings.decision_url(ans.decision.id)
        return FastJSONResponse(admission.answer(review, ans, cfg, url))


def _argo_routes(router: APIRouter, deps: IntegrationDeps) -> None:
    settings = deps.settings

    async def argo_measure(request: Request, data: Any) -> Response:
        caller = await _authenticated(deps, request, request.headers.get("Authorization"))
        if isinstance(caller, JSONResponse):
            return caller
        try:
            query = _validate(argo.ArgoQuery, data)
            target = argo.target_of(query, settings.argo)
        except PayloadError as exc:
            return problem(400, str(exc), exc.field)
        try:
            ans = await _decide(deps, "argo", target, caller, deadline_of(deps, request))
        except TargetError as exc:
            return problem(422, str(exc), "environment")
        except ClearanceError as exc:
            # Non-2xx is a measurement Error to Argo: retried, then the analysis fails.
            return problem(503, f"cannot decide now: {exc}")
        except Exception:
            logger.exception("argo: deciding failed")  # still an Error measurement, never 500
            return problem(503, "cannot decide now: Clearance failed (see its log)")
        return JSONResponse(argo.measurement(ans, settings.decision_url(ans.decision.id)))

    @router.get("/argo/measurement")
    async def argo_get(request: Request) -> Response:
        params = request.query_params
        data: dict[str, Any] = {k: v for k, v in params.items() if k != "image"}
        data["images"] = params.getlist("image")
        return await argo_measure(request, data)

    @router.post("/argo/measurement")
    async def argo_post(request: Request) -> Response:
        caller = await _authenticated(deps, request, request.headers.get("Authorization"))
        if isinstance(caller, JSONResponse):
            return caller  # refused before the body is read
        try:
            data = await _json(request)
        except PayloadError as exc:
            return problem(400, str(exc), exc.field)
        return await argo_measure(request, data)


def _flagger_routes(router: APIRouter, deps: IntegrationDeps) -> None:
    settings = deps.settings

    @router.post("/flagger/{hook}")
    async def flagger_hook(hook: str, request: Request) -> Response:
        cfg = settings.flagger
        if cfg is None:
            return problem(404, "the Flagger integration is not configured")
        if hook not in flagger.HOOKS:
            return problem(404, f"unknown hook {hook!r} (known: {', '.join(flagger.HOOKS)})")
        try:
            payload = _validate(flagger.FlaggerPayload, await _json(request))
            target = flagger.target_of(payload, cfg)
        except PayloadError as exc:
            return problem(400, str(exc), exc.field)
        # Flagger webhooks send no headers of their own: a token may ride in metadata.token.
        header = request.headers.get("Authorization")
        if header is None and payload.metadata.get("token"):
            header = f"Bearer {payload.metadata['token']}"
        caller = await _authenticated(deps, request, header)
        if isinstance(caller, JSONResponse):
            return caller
        try:
            ans = await _decide(deps, "flagger", target, caller, deadline_of(deps, request))
        except ClearanceError as exc:
            # Hold (403), never go on, when Clearance cannot decide.
            return PlainTextResponse(f"Clearance {hook}: cannot decide: {exc}", status_code=403)
        except Exception:
            logger.exception("flagger %s: deciding failed", hook)
            text = f"Clearance {hook}: cannot decide: Clearance failed (see its log)"
            return PlainTextResponse(text, status_code=403)
        url = settings.decision_url(ans.decision.id)
        text = flagger.answer_text(hook, ans, url)
        return PlainTextResponse(text, status_code=flagger.status_code(ans))


def _peer(request: Request) -> str:
    return request.client.host if request.client else "-"


def mount(
    app: Any, ctx: Any, settings: IntegrationSettings, concurrency: int = 32
) -> IntegrationDeps:
    """Mount every integration on the service app; returns the deps (``deps.github.finish``).

    ``ctx`` is the app's ``ServerContext``: decisions go through its DecisionService, callers
    through its authenticator (``decide`` scope), counters onto its metrics registry.
    """
    from clearance.integrations.github_app import (  # noqa: PLC0415
        GitHubApp,
        StoredDeliveries,
        StoredDeliveryLog,
        StoredGates,
    )
    from clearance.server.integration_decider import ServiceDecider, service_authenticator  # noqa: PLC0415

    decider = ServiceDecider(ctx)
    metrics = IntegrationMetrics(ctx.metrics.registry)
    gates = None
    if settings.github is not None:
        log = StoredDeliveryLog(ctx.store, ctx.clock)  # shown with the decision, any replica
        app_client = GitHubApp(settings.github, clock=ctx.clock, log=log)
        held = StoredGates(ctx.store, ctx.clock)  # any worker or replica finishes the gate
        gates = GitHubGates(
            decider,
            app_client,
            settings,
            metrics,
            pending=held,
            deliveries=StoredDeliveries(ctx.store, ctx.clock),  # any replica refuses a replay
            principals=ctx.approvals.signers.principals,
        )
    checks = None
    if settings.github is not None and settings.github.checks is not None:
        checks = GitHubChecks(
            settings.github.checks, settings.github.api_url, token=app_client.installation_token
        )
    deps = IntegrationDeps(decider, settings, service_authenticator(ctx), metrics, gates, checks)
    deps.concurrency = concurrency
    deps.intake = ctx.intake  # one limit for every route that decides
    deps.deployed = lambda decision_id, via, by: ctx.store.note_deployed(
        decision_id, via, by, ctx.clock()
    )
    app.include_router(integration_router(deps))
    return deps
