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
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clearance import __version__
from clearance.config import Config, load_config, locate
from clearance.errors import ConfigError, OverloadedError
from clearance.ingest.storing import KEV_SOURCE, Stored, store_batch
from clearance.integrations.settings import IntegrationSettings
from clearance.integrations.settings import load_settings as load_integration_settings
from clearance.inventory.interface import Lifecycle
from clearance.model.reports import Report
from clearance.model.status import ApprovalStatus
from clearance.model.target import Target
from clearance.policy.compiled import Policy
from clearance.policy.load import load_policy_text
from clearance.policy.schema import duration_seconds
from clearance.server import errors
from clearance.server.auth import Authenticator, Principal
from clearance.server.collector import make_full_collections_rare
from clearance.server.guard import AdmissionAccess, BodyLimits, RequestGuard
from clearance.server.intake import Intake
from clearance.server.metrics import Metrics
from clearance.server.requestlog import RequestId, configure_logging
from clearance.server.settings import ServerSettings, load_settings
from clearance.service.approvals import ApprovalBook
from clearance.service.breakglass import BreakGlassDesk, BreakGlassRules
from clearance.service.decisions import Clock, DecisionService, Outcome
from clearance.service.lapses import Lapses
from clearance.service.notifications import Channels, Notifier
from clearance.service.notify import Webhook
from clearance.service.periodic import Periodic
from clearance.service.watch import WatchAlert, Watcher
from clearance.sources.interface import Batch
from clearance.store import database_url
from clearance.store.interface import Caller
from clearance.store.sql import SqlStore

logger = logging.getLogger(__name__)

COMPUTING = 2  # decisions computed at once per process (see ServerContext.computing)


# Seconds a decision asked off any request (a GitHub gate's, after its webhook was answered)
# waits for a place: no client is waiting on a connection, and giving up fails the gate.
OFF_REQUEST_WAIT = 30.0


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
    notifier: Notifier | None = None
    watcher: Watcher | None = None  # None: watching after the deploy is off (settings.watch)
    lapses: Lapses | None = None  # None: no environment is notified
    # Requests that decide are admitted here, on the event loop, before any thread is taken
    # (clearance.server.intake); ``slots`` bounds the decisions asked off a request (GitHub's).
    intake: Intake = field(init=False)
    slots: threading.BoundedSemaphore = field(init=False)
    # Decisions computed at once in this process, by every route (the API's and the
    # integrations'): CPU-bound Python under one GIL, so more threads computing only take the
    # event loop's turn — measured past capacity, sixteen left the loop so little that answers
    # went out after their clients gave up. Released before the append waits for its group
    # commit, so the records sharing one commit are not bounded by it.
    computing: threading.BoundedSemaphore = field(init=False)
    # Called with (decision_id, new approval status) when an approval or a break-glass changes
    # a decision's status: the GitHub protection rule answers its held gate from here.
    settled: list[Callable[[str, ApprovalStatus], object]] = field(default_factory=list)
    # Evidence the service reads about the change itself, per target (the commit's required
    # checks on GitHub: integrations/github_checks.py); None: only what the request brings.
    change_evidence: Callable[[Target], tuple[Report, ...]] | None = None
    # What else the app holds open (the GitHub App's HTTP client), closed with the context.
    closing: list[Callable[[], object]] = field(default_factory=list)
    _stopping: threading.Event = field(init=False, default_factory=threading.Event)
    _supervisor: threading.Thread | None = field(init=False, default=None)
    _watching: Periodic | None = field(init=False, default=None)
    _sweeping: Periodic | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.intake = Intake(self.settings.max_in_flight, self.settings.queue_wait)
        self.slots = threading.BoundedSemaphore(self.settings.max_in_flight)
        self.computing = threading.BoundedSemaphore(COMPUTING)

    @property
    def pulled(self) -> frozenset[str]:
        """Sources only ``sync`` (or an admin) writes: the configured pull sources, and the
        KEV enrichment's own ``kev`` signals."""
        return self.config.pulled | {KEV_SOURCE}

    def decide(
        self,
        target: Target,
        caller: Caller,
        manifest: Mapping[str, Any] | None = None,
        *,
        computing: threading.BoundedSemaphore | None = None,
        record: bool = True,
        reports: tuple[Report, ...] = (),
        deadline: Callable[[str], object] | None = None,
    ) -> Outcome:
        """Decide within the service's limit on decisions in flight and count the verdict:
        the API and every integration ask here.

        With ``deadline`` the request was admitted by :attr:`intake` already (its deadline's
        ``check``: refused, unrecorded, once its answer could no longer arrive in time).
        Without one (a decision asked off any request: a GitHub gate's), the call waits for one
        of ``slots`` up to :data:`OFF_REQUEST_WAIT` (OverloadedError past it)."""
        if self.change_evidence is not None:  # read before taking a slot: it waits on GitHub
            reports = (*reports, *self.change_evidence(target))
        wait = max(self.settings.queue_wait, OFF_REQUEST_WAIT)
        if deadline is None and not self.slots.acquire(timeout=wait):
            raise OverloadedError(
                f"{self.settings.max_in_flight} decisions are in flight; retry shortly"
            )
        try:
            outcome = self.decisions.decide(
                target,
                caller,
                manifest,
                computing=computing,
                record=record,
                reports=reports,
                deadline=deadline,
            )
        finally:
            if deadline is None:
                self.slots.release()
        decision = outcome.record.decision
        self.metrics.decided(
            decision["verdict"],
            decision["target"]["environment"],
            list(decision["degraded"]),
            decision.get("mode"),
        )
        return outcome

    def store_batch(self, batch: Batch, source: str, now: datetime) -> Stored:
        """:func:`clearance.ingest.storing.store_batch` with this service's skew and retention."""
        skew = timedelta(seconds=duration_seconds(self.settings.future_skew))
        retention = self.config.quarantine
        return store_batch(self.store, batch, source, now, skew=skew, retention=retention)

    def start(self, supervise_every: float = 5.0) -> None:
        """Start what keeps the decisions' inputs current (the inventory's watches), and a
        supervisor that restarts what stopped unexpectedly, and the watch after the deploy.
        Idempotent; ``stop`` ends them."""
        if self.watcher is not None and self._watching is None and self.settings.watch.interval:
            self._watching = Periodic(
                self.watcher.tick,
                duration_seconds(self.settings.watch.interval),
                name="clearance-watch",
                what="watch pass",
            )
            self._watching.start()
        if self.lapses is not None and self._sweeping is None:
            # Deliveries a stopped process left retrying go out again, once per start.
            self.lapses.notifier.resume()
            interval = duration_seconds(self.settings.notify.sweep_interval)
            self._sweeping = Periodic(
                self.lapses.tick, interval, name="clearance-lapses", what="notification sweep"
            )
            self._sweeping.start()
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
        if self._watching is not None:
            self._watching.stop()
            self._watching = None
        if self._sweeping is not None:
            self._sweeping.stop()
            self._sweeping = None
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
        for close in self.closing:
            close()
        self.webhook.join(timeout=2.0)
        if self.notifier is not None:
            self.notifier.join(timeout=2.0)
        self.config.close()
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
    approvals = ApprovalBook(store, policy, settings.principals.build())  # DecisionService caches
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
        on_append_failure=metrics.audit_append_failures.inc,
        _audit=_audit,
    )
    notifier = _notifier(store, decisions, settings, clock, metrics, policy)

    def notify(alert: WatchAlert) -> None:
        if notifier is not None:
            notifier.notice(
                alert.notice(notifier.decision_url(alert.decision.id)), alert.record.decision_id
            )

    watcher = Watcher(
        decisions,
        store,
        webhook,
        on_alert=lambda environment: metrics.watch_alerts.labels(environment).inc(),
        notify=notify,
    )
    ctx = ServerContext(
        watcher=watcher,
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
        notifier=notifier,
        lapses=None
        if notifier is None
        else Lapses(
            store,
            decisions,
            policy,
            notifier,
            timedelta(seconds=duration_seconds(settings.notify.exception_warning)),
            notifier.console_url + "/console/exceptions" if notifier.console_url else None,
        ),
    )
    if ctx.notifier is not None:
        decisions.recorded.append(ctx.notifier.decided)
        ctx.settled.append(ctx.notifier.settled)
    return ctx


def _notifier(
    store: SqlStore,
    decisions: DecisionService,
    settings: ServerSettings,
    clock: Clock,
    metrics: Metrics,
    policy: Policy,
) -> Notifier | None:
    """Approval events to Slack, Teams and webhooks, for environments that name any."""
    notify = settings.notify
    if not notify.environments:
        return None
    for name in notify.environments:
        # A misspelt environment would never be notified, silently: refuse to start instead.
        if name not in policy.document.environments:
            known = ", ".join(sorted(policy.document.environments))
            raise ConfigError(
                f"server.notify.environments.{name}: no such environment in the policy "
                f"(known: {known})"
            )

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    channels = {
        name: Channels(
            slack=secret(c.slack_webhook_url),
            teams=secret(c.teams_webhook_url),
            webhook=secret(c.webhook_url),
            events=frozenset(c.events),
        )
        for name, c in notify.environments.items()
    }
    console = settings.console.url if settings.console is not None else None
    return Notifier(
        store,
        decisions.get,
        channels,
        notify.console_url or console,
        clock,
        retries=notify.retries,
        backoff=notify.backoff,
        on_result=lambda _, ok: metrics.notifications.labels("delivered" if ok else "failed").inc(),
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
    make_full_collections_rare()
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
    for approval is answered when the approvals settle. With ``console:`` in the settings the
    approvers' web console is mounted (:mod:`clearance.server.console`)."""
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
            ctx.closing.append(deps.github.app.close)
        if deps.checks is not None:
            ctx.change_evidence = deps.checks.reports
        admission = _admission_access(ctx, integrations, deps.metrics.undecided)

    if ctx.settings.notify.slack is not None:
        from clearance.server.routes import slack  # noqa: PLC0415

        app.include_router(slack.router)
    if ctx.settings.console is not None:
        from clearance.server.console import mount as mount_console  # noqa: PLC0415

        mount_console(app, ctx)

    limits = BodyLimits(**ctx.settings.body_limits.model_dump())
    app.add_middleware(RequestGuard, ctx=ctx, limits=limits, admission=admission)
    app.add_middleware(_Timing, metrics=ctx.metrics)
    # Outermost: the id is known to every log line below, and returned even on a refusal.
    app.add_middleware(RequestId)
    return app


def _admission_access(
    ctx: ServerContext,
    integrations: IntegrationSettings,
    undecided: Callable[[bool, str], object] | None = None,
) -> AdmissionAccess:
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
    return AdmissionAccess(
        cfg.require_auth,
        frozenset(cfg.client_subjects),
        configured=True,
        stance_allows=cfg.on_error == "allow",
        undecided=undecided,
    )


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
