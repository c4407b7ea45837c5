"""The request guard: body limits and authentication before any body is read (plain ASGI).

Every request passes here first, on every route, the integrations included:

* its route class (:func:`classify`) sets a body limit; a ``Content-Length`` over it is answered
  413 at once, and a chunked body is cut off at the limit (413 if nothing was answered yet), so
  no route ever holds more than its limit of one request in memory;
* a route whose caller is named by the ``Authorization`` header is authenticated *before* its
  body is read: no credential, or one that cannot be accepted, is 401 whatever the body holds
  (``-d '{'`` without a token is 401, not 422). The principal is kept in the request's state for
  the route's scope check, so the credential is verified once;
* routes whose authentication depends on the body (the HMAC-signed GitHub webhook and Slack
  interactions; Flagger's ``metadata.token``) read at most their limit and check it
  themselves; the admission webhook accepts a bearer credential or a verified client
  certificate (:mod:`clearance.server.mtls`), or neither in its explicit insecure mode
  (``require_auth: false``).

The console's pages (``/``, ``/console/…``, ``/decisions/{id}``) name their person by a signed
session cookie and check it themselves (:mod:`clearance.server.console`); each form also
carries a CSRF token.

Public routes (health, readiness, metrics, the OpenAPI document and its viewers) are an explicit
list, :data:`PUBLIC`, each with its reason.

Past capacity, decision requests (``POST /v1/decisions`` and the admission webhook) are refused
here, once authenticated, while the intake's estimated wait is past ``queue_wait``
(:meth:`clearance.server.intake.Intake.hopeless`): 429 with ``Retry-After``, or the admission
webhook's ``on_error`` stance, before the body is validated or a route runs. Their body is read
first (within its limit), so the connection stays usable: a client that reconnects for every
refusal (a TLS handshake each) costs more than the refusal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clearance.errors import AuthError, ClearanceError, PayloadError
from clearance.integrations.admission import parse_review, stance_answer
from clearance.server.auth import Principal

if TYPE_CHECKING:
    from clearance.server.app import ServerContext

KiB = 1024
MiB = 1024 * KiB

# Routes anyone may call, and why. Each answers GET only and reads no body.
PUBLIC: Mapping[str, str] = {
    "/healthz": "liveness probes come from the kubelet, which holds no credential",
    "/readyz": "readiness probes likewise; it says only whether the store is reachable",
    "/metrics": "Prometheus scrapes without a credential; it shows counts, never data or names "
    "of people",
    "/openapi.json": "the API's shape is public (it is in the repository)",
    "/docs": "the OpenAPI viewer, which only fetches /openapi.json",
    "/docs/oauth2-redirect": "part of the OpenAPI viewer",
    "/redoc": "the other OpenAPI viewer",
}

Auth = Literal["public", "bearer", "body", "admission", "console"]


@dataclass(frozen=True, slots=True)
class RouteClass:
    """How one kind of route is guarded: its body limit and how its caller is named."""

    name: str
    limit: int
    auth: Auth


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Bytes a body may have, per route class (``server.body_limits`` in the settings)."""

    ingest: int = 16 * MiB  # a falcosidekick or OCSF batch; POST /v1/signals (10,000 signals)
    decisions: int = 2 * MiB  # a target and the manifest being deployed (itself ≤ 1 MiB)
    admission: int = 3 * MiB  # an AdmissionReview carries object and oldObject (etcd: 1.5 MiB)
    github: int = 1 * MiB  # a deployment_protection_rule delivery is a few KiB
    default: int = 64 * KiB  # approvals, exceptions, tokens, Argo, Flagger


_INGEST = re.compile(r"^/v1/(ingest/|signals$)")
# A post-deploy check brings a test report, as a decision request may.
_CHECKS = re.compile(r"^/v1/decisions/[^/]+/checks$")
_ADMISSION = "/v1/integrations/k8s/admission"
_GITHUB = "/v1/integrations/github/webhook"
_FLAGGER = "/v1/integrations/flagger/"
# The console's pages name their person by a signed session cookie, checked by the console.
_CONSOLE = ("/console/", "/decisions/")
_SLACK = "/v1/integrations/slack/interactions"  # signed with Slack's signing secret


def classify(method: str, path: str, limits: BodyLimits) -> RouteClass:
    """The route class of a request, from its method and path alone (before routing)."""
    if path in PUBLIC and method in ("GET", "HEAD"):
        return RouteClass("public", 0, "public")
    if _INGEST.match(path):
        return RouteClass("ingest", limits.ingest, "bearer")
    if (path == "/v1/decisions" or _CHECKS.match(path)) and method == "POST":
        return RouteClass("decisions", limits.decisions, "bearer")
    if path == _ADMISSION:
        return RouteClass("admission", limits.admission, "admission")
    if path == _GITHUB:
        return RouteClass("github", limits.github, "body")
    if path == "/" or path.startswith(_CONSOLE):
        return RouteClass("console", limits.default, "console")
    if path == _SLACK:
        return RouteClass("slack", limits.default, "body")
    if path.startswith(_FLAGGER):
        return RouteClass("flagger", limits.default, "body")
    return RouteClass("default", limits.default, "bearer")


class BodyTooLargeError(HTTPException):
    """A body over its route's limit: 413 (an HTTPException, so any layer that reads the body
    passes it on unchanged)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"payload too large: bodies here are limited to {limit} bytes")


@dataclass(frozen=True, slots=True)
class AdmissionAccess:
    """Who may call the admission webhook: a bearer credential always; a verified client
    certificate naming one of ``subjects``; anyone at all only when ``requires_auth`` is off.
    ``configured``: the webhook answers (its settings exist); ``stance_allows``: its
    ``on_error`` stance, answered to a review refused at the door; ``undecided`` counts each
    such answer (the integrations' metric, by stance and cause)."""

    requires_auth: bool = True
    subjects: frozenset[str] = frozenset()
    configured: bool = False
    stance_allows: bool = False
    undecided: Callable[[bool, str], object] | None = None


# Decision requests refused at the door when the intake is hopeless (method, path).
_SHED_AT_DOOR = frozenset({("POST", "/v1/decisions"), ("POST", "/v1/integrations/k8s/admission")})


class RequestGuard:
    """The ASGI middleware; ``admission`` is None when the admission webhook is not mounted."""

    def __init__(
        self,
        app: ASGIApp,
        ctx: ServerContext,
        limits: BodyLimits,
        admission: AdmissionAccess | None = None,
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.limits = limits
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # When the request arrived: its deadline counts from here (clearance.server.intake).
        scope.setdefault("state", {})["arrived"] = self.ctx.intake.clock()
        route = classify(scope["method"], scope["path"], self.limits)
        headers = _headers(scope)
        declared = headers.get("content-length", "")
        limit = max(route.limit, 0)
        if declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, "payload too large", BodyTooLargeError(limit).detail)
            return
        refused = await self._authenticate(route, scope, headers)
        if refused is not None:
            await _answer(send, 401, "unauthenticated", refused, authenticate=True)
            return
        if (scope["method"], scope["path"]) in _SHED_AT_DOOR and self._hopeless(route):
            await self._shed(route, receive, send, limit)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, _capped(receive, limit), send_tracked)
        except BodyTooLargeError as exc:
            if not started:
                await _answer(send, 413, "payload too large", str(exc.detail))

    def _hopeless(self, route: RouteClass) -> bool:
        """Whether to refuse at the door: the intake says so, and the route would decide (an
        admission webhook without settings answers 404 from its route, as always)."""
        if route.name == "admission" and (self.admission is None or not self.admission.configured):
            return False
        return self.ctx.intake.hopeless()

    async def _shed(self, route: RouteClass, receive: Receive, send: Send, limit: int) -> None:
        """Refuse a decision request at the door: nothing decided, nothing recorded."""
        intake = self.ctx.intake
        why = (
            f"{intake.limit} decisions are in flight and more are waiting: a place would come "
            f"free in about {intake.expected_wait():.2g} s, after queue_wait "
            f"({intake.queue_wait:g} s); nothing was recorded, retry shortly"
        )
        self.ctx.metrics.shed.labels(route.name).inc()
        try:
            body = await _read_body(_capped(receive, limit))
        except BodyTooLargeError as exc:
            await _answer(send, 413, "payload too large", str(exc.detail))
            return
        if route.name != "admission" or self.admission is None:
            retry = str(self.ctx.settings.retry_after)
            await _answer(send, 429, "overloaded", why, keep_alive=True, retry_after=retry)
            return
        try:
            review = parse_review(parse_json(body))
        except (JsonBodyError, PayloadError) as exc:
            # The route would refuse it too (400): the same answer, without deciding.
            await _answer(send, 400, "bad request", str(exc), keep_alive=True)
            return
        access = self.admission
        if access.undecided is not None:
            access.undecided(access.stance_allows, "overloaded")
        answer = orjson.dumps(stance_answer(review, access.stance_allows, why))
        await _send(send, 200, answer, b"application/json")

    async def _authenticate(
        self, route: RouteClass, scope: Scope, headers: Mapping[str, str]
    ) -> str | None:
        """None when the request may go on (its principal kept in its state); else why not."""
        if route.auth in ("public", "body", "console"):
            return None
        header = headers.get("authorization")
        if route.auth == "admission" and header is None:
            access = self.admission
            if access is None:
                return None  # not mounted: the router answers 404
            names = client_names(scope)
            if names and access.subjects.intersection(names):
                return None  # a verified client certificate names the API server
            if not access.requires_auth:
                return None  # the explicit insecure mode, announced at start-up and in /metrics
            if names:
                return f"client certificate {names[0]!r} is not an allowed admission subject"
        ctx = self.ctx
        peer = scope["client"][0] if scope.get("client") else "-"
        try:
            principal = ctx.auth.remembered(header, ctx.clock())
            if principal is None:
                principal = await run_in_threadpool(
                    ctx.auth.authenticate, header, ctx.clock(), peer
                )
        except AuthError as exc:
            return exc.reason
        except ClearanceError as exc:
            return str(exc)
        scope.setdefault("state", {})["principal"] = principal
        return None


MAX_JSON_DEPTH = 64  # far deeper than any body the API reads (a Kubernetes object: ~20)


class JsonBodyError(ValueError):
    """A body that is not JSON the service will read: malformed, not UTF-8, a lone surrogate,
    a non-finite number, or nested deeper than :data:`MAX_JSON_DEPTH`."""


def parse_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``raw`` as JSON (orjson: strict UTF-8, no lone surrogates, no NaN or infinities, no
    recursion), refusing nesting deeper than ``max_depth``: raises :class:`JsonBodyError`."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise JsonBodyError(f"not JSON: {exc}") from exc
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise JsonBodyError(f"nested deeper than {max_depth} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return data


def principal_of(state: Any) -> Principal | None:
    """The principal the guard authenticated for this request, if it did."""
    found = getattr(state, "principal", None)
    return found if isinstance(found, Principal) else None


def client_names(scope: Scope) -> tuple[str, ...]:
    """The names of the verified client certificate of the connection (none without one)."""
    tls = (scope.get("extensions") or {}).get("tls")
    names = tls.get("client_names") if isinstance(tls, Mapping) else None
    return tuple(names) if isinstance(names, tuple | list) else ()


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _capped(receive: Receive, limit: int) -> Callable[[], Any]:
    """``receive`` that raises :class:`BodyTooLargeError` once the body passes ``limit``."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLargeError(limit)
        return message

    return capped


async def _read_body(receive: Callable[[], Any]) -> bytes:
    """The request's whole body (``receive`` capped at its route's limit)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away: what came is all there is
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _answer(
    send: Send,
    status: int,
    title: str,
    detail: str,
    *,
    authenticate: bool = False,
    keep_alive: bool = False,
    retry_after: str | None = None,
) -> None:
    """A problem+json answer. ``keep_alive`` only once the body was read whole: otherwise the
    connection cannot be reused safely."""
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()
    headers = [] if keep_alive else [(b"connection", b"close")]
    if authenticate:
        reason = detail.replace('"', "'")
        value = f'Bearer error="invalid_token", error_description="{reason}"'
        headers.append((b"www-authenticate", value.encode("latin-1", "replace")))
    if retry_after is not None:
        headers.append((b"retry-after", retry_after.encode()))
    await _send(send, status, body, b"application/problem+json", headers)


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    start = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    message = {"type": "http.response.start", "status": status, "headers": start + (headers or [])}
    await send(message)
    await send({"type": "http.response.body", "body": body})
