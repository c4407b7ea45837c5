"""Explicit assembly of the service: store, policy, inventory, services, auth, routes.

``build_context`` opens everything a running service needs (and stores the policy text, so
replay can reload it); ``create_app`` wires a FastAPI app over a context. Nothing happens at
import time. Tests and the benchmark build their own context with an injected clock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clearance import __version__
from clearance.config import Config, load_config, locate
from clearance.ingest.storing import KEV_SOURCE, Stored, store_batch
from clearance.integrations.settings import IntegrationSettings
from clearance.integrations.settings import load_settings as load_integration_settings
from clearance.inventory.interface import Lifecycle
from clearance.model.status import ApprovalStatus
from clearance.policy.compiled import Policy
from clearance.policy.load import load_policy_text
from clearance.policy.schema import duration_seconds
from clearance.server import errors
from clearance.server.auth import Authenticator, Principal
from clearance.server.guard import AdmissionAccess, BodyLimits, RequestGuard
from clearance.server.metrics import Metrics
from clearance.server.requestlog import RequestId, configure_logging
from clearance.server.settings import ServerSettings, load_settings
from clearance.service.approvals import ApprovalBook
from clearance.service.breakglass import BreakGlassDesk, BreakGlassRules
from clearance.service.decisions import Clock, DecisionService
from clearance.service.notify import Webhook
from clearance.sources.interface import Batch
from clearance.store import database_url
from clearance.store.sql import SqlStore

logger = logging.getLogger(__name__)


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class ServerContext:
    store: SqlStore
    config: Config
    policy: Policy
    settings: ServerSettings
    decisions: DecisionService
    approvals: ApprovalBook
    break_glass: BreakGlassDesk
    auth: Authenticator
    metrics: Metrics
    webhook: Webhook
    clock: Clock
    slots: threading.BoundedSemaphore = field(init=False)
    # Called with (decision_id, new approval status) when an approval or a break-glass changes
    # a decision's status: the GitHub protection rule answers its held gate from here.
    settled: list[Callable[[str, ApprovalStatus], object]] = field(default_factory=list)
    _stopping: threading.Event = field(init=False, default_factory=threading.Event)
    _supervisor: threading.Thread | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(self.settings.max_in_flight)

    @property
    def pulled(self) -> frozenset[str]:
        """Sources only ``sync`` (or an admin) writes: the configured pull sources, and the
        KEV enrichment's own ``kev`` signals."""
        return self.config.pulled | {KEV_SOURCE}

    def store_batch(self, batch: Batch, source: str, now: datetime) -> Stored:
        """:func:`clearance.ingest.storing.store_batch` with this service's skew and retention."""
        skew = timedelta(seconds=duration_seconds(self.settings.future_skew))
        retention = self.config.quarantine
        return store_batch(self.store, batch, source, now, skew=skew, retention=retention)

    def start(self, supervise_every: float = 5.0) -> None:
        """Start what keeps the decisions' inputs current (the inventory's watches), and a
        supervisor that restarts what stopped unexpectedly. Idempotent; ``stop`` ends both."""
        inventory = self.config.inventory
        if self._supervisor is not None or not isinstance(inventory, Lifecycle):
            return
        inventory.start()

        def supervise() -> None:
            while not self._stopping.wait(supervise_every):
                inventory.supervise()

        self._supervisor = threading.Thread(
            target=supervise, name="clearance-supervisor", daemon=True
        )
        self._supervisor.start()
        logger.info("inventory %r: watching", inventory.name)

    def stop(self) -> None:
        self._stopping.set()
        inventory = self.config.inventory
        if self._supervisor is not None and isinstance(inventory, Lifecycle):
            inventory.stop()
            self._supervisor.join(timeout=2.0)
            self._supervisor = None

    def principal(self, request: Request) -> Principal:
        peer = request.client.host if request.client else "-"
        return self.auth.authenticate(request.headers.get("authorization"), self.clock(), peer)

    def settle(
        self, decision_id: str, before: ApprovalStatus | None, after: ApprovalStatus
    ) -> None:
        """Tell the listeners that ``decision_id`` went from ``before`` to ``after``. Runs after
        the response (a background task): a listener's failure is logged, never the caller's."""
        if before == after:
            return
        for listener in self.settled:
            try:
                listener(decision_id, after)
            except Exception:
                logger.exception("notifying %s of decision %s failed", listener, decision_id)

    def close(self) -> None:
        self.stop()
        self.webhook.join(timeout=2.0)
        self.store.close()


def build_context(
    config_path: Path,
    store: SqlStore,
    settings: ServerSettings,
    clock: Clock = system_clock,
    *,
    _audit: bool = True,
) -> ServerContext:
    """Load the configuration and policy, keep the policy text, and build the services."""
    config = load_config(config_path)
    policy_text = config.policy_path.read_bytes()
    policy = load_policy_text(policy_text, str(config.policy_path))
    store.put_policy(policy.digest, policy_text, clock())
    metrics = Metrics()
    webhook = Webhook(
        url.get_secret_value() if (url := settings.notify.webhook_url) else None,
        retries=settings.notify.retries,
        backoff=settings.notify.backoff,
        on_result=lambda ok: metrics.notifications.labels("delivered" if ok else "failed").inc(),
    )
    approvals = ApprovalBook(store, policy, settings.read_cache, settings.principals.build())
    rules = BreakGlassRules(
        expires_after=timedelta(seconds=duration_seconds(settings.break_glass.expires_after)),
        second_person=settings.break_glass.second_person,
    )
    desk = BreakGlassDesk(store, rules, webhook, approvals.signers, settings.read_cache)
    decisions = DecisionService(
        store,
        config.inventory,
        policy,
        policy_text,
        [s.name for s in config.sources],
        approvals,
        desk,
        clock,
        read_cache=settings.read_cache,
        _audit=_audit,
    )
    return ServerContext(
        store=store,
        config=config,
        policy=policy,
        settings=settings,
        decisions=decisions,
        approvals=approvals,
        break_glass=desk,
        auth=Authenticator(store, settings),
        metrics=metrics,
        webhook=webhook,
        clock=clock,
    )


SETTINGS_ENV = "CLEARANCE_SERVER_SETTINGS"
INTEGRATIONS_ENV = "CLEARANCE_INTEGRATIONS"
LOG_FORMAT_ENV = "CLEARANCE_LOG_FORMAT"


def integration_settings(path: Path | None) -> IntegrationSettings | None:
    """``path``, else ``$CLEARANCE_INTEGRATIONS``, else none (the integrations are not mounted)."""
    if path is None:
        named = os.environ.get(INTEGRATIONS_ENV)
        path = Path(named) if named else None
    return None if path is None else load_integration_settings(path)


def app_from_environment() -> FastAPI:
    """One worker's app, for ``clearance serve --workers N`` (uvicorn calls it in each worker).

    Reads ``$CLEARANCE_CONFIG``, ``$CLEARANCE_DATABASE_URL``, ``$CLEARANCE_SERVER_SETTINGS`` and
    ``$CLEARANCE_INTEGRATIONS``, which ``serve`` sets; the schema was migrated by the parent, so
    workers only check it.
    """
    configure_logging(os.environ.get(LOG_FORMAT_ENV) or "text")  # a worker is a new process
    settings_path = os.environ.get(SETTINGS_ENV)
    store = SqlStore.open(database_url(), migrate=False)
    settings = load_settings(Path(settings_path) if settings_path else None)
    ctx = build_context(locate(None), store, settings)
    return create_app(ctx, integrations=integration_settings(None))


def create_app(
    ctx: ServerContext,
    extra_routers: Sequence[APIRouter] = (),
    integrations: IntegrationSettings | None = None,
) -> FastAPI:
    """The app over ``ctx``; ``extra_routers`` are mounted beside ours. With ``integrations``
    the GitHub, admission, Argo and Flagger endpoints are mounted too, and a GitHub gate held
    for approval is answered when the approvals settle."""
    # The routes import ServerContext from here: import them once the module is complete.
    from clearance.server.routes import admin, decisions, health, ingest, signals  # noqa: PLC0415

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Each worker process keeps its own inventory cache current while it serves.
        ctx.start()
        try:
            yield
        finally:
            ctx.stop()

    app = FastAPI(
        title="Clearance",
        version=__version__,
        description="Is it safe to deploy this, to that target, right now? See docs/api.md.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    errors.install(app, ctx.settings.retry_after)
    for module in (decisions, admin, signals, ingest, health):
        app.include_router(module.router)
    for router in extra_routers:
        app.include_router(router)
    admission = None
    if integrations is not None:
        from clearance.server.routes.integrations import mount  # noqa: PLC0415

        deps = mount(app, ctx, integrations)
        if deps.github is not None:
            ctx.settled.append(deps.github.finish)
        admission = _admission_access(ctx, integrations)

    limits = BodyLimits(**ctx.settings.body_limits.model_dump())
    app.add_middleware(RequestGuard, ctx=ctx, limits=limits, admission=admission)
    app.add_middleware(_Timing, metrics=ctx.metrics)
    # Outermost: the id is known to every log line below, and returned even on a refusal.
    app.add_middleware(RequestId)
    return app


def _admission_access(ctx: ServerContext, integrations: IntegrationSettings) -> AdmissionAccess:
    cfg = integrations.admission
    if cfg is None:
        return AdmissionAccess(requires_auth=True)
    if not cfg.require_auth:
        # Named, loudly: anyone who reaches the service can append decisions as any username.
        logger.warning(
            "INSECURE: the admission webhook accepts unauthenticated requests "
            "(admission.require_auth: false); anyone who can reach this service can record "
            "decisions. Give the API server a token or a client certificate instead "
            "(docs/integrations/kubernetes-admission.md)"
        )
        ctx.metrics.insecure_admission.set(1)
    return AdmissionAccess(cfg.require_auth, frozenset(cfg.client_subjects))


class _Timing:
    """Request latency by route template and status (a plain ASGI middleware: cheap)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )
