"""Fuzz the whole HTTP API: generated bodies on every route and push format; count 5xx and crashes.

The real service app (``create_app`` with every integration mounted, the demo fleet, SQLite)
is driven in-process, one ASGI call per request (what makes a million bodies feasible on a
laptop), or with ``--http`` over real HTTP against uvicorn on loopback. Each body is one of:
the route's real payload (from tests/fixtures or a known-good body), that payload with one
value replaced by a hostile one (2^53, 2^64, 1e308, NaN, a lone surrogate, NUL, 100k
characters, nesting 10 to 5,000 deep, a wrong type), with a key removed or added, any random
JSON value, or broken bytes (truncated, not UTF-8, ``{``). Credentials vary too: mostly the
right scope, else none, garbage, or the wrong scope. Bodies are drawn from a seeded
``random.Random`` (reproducible with ``--seed``; far faster than a hypothesis strategy).

A response of 500 or more, or an exception out of the app, is a failure: the first few of each
route are written to ``--failures`` (JSON Lines: route, status, body) to replay.

    .venv/bin/python -m bench.fuzz_api --bodies 1000000          # in-process, ~1M bodies
    .venv/bin/python -m bench.fuzz_api --bodies 5000 --http      # the same over real HTTP
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import platform
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src")]
FIXTURES = ROOT / "tests" / "fixtures"
WEBHOOK_SECRET = "fuzz-webhook-secret"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


def _templates() -> dict[str, Any]:
    signal = {
        "uid": "pushed:1",
        "source": "pushed",
        "kind": "detection",
        "title": "Credential dumping",
        "severity": 4,
        "confidence": 0.9,
        "status": "open",
        "first_seen": "2026-11-28T11:00:00Z",
        "last_seen": "2026-11-28T11:30:00Z",
        "assets": ["host:node-a", "pod:shop/checkout-1"],
        "techniques": ["T1003"],
        "count": 2,
    }
    decision = {
        "environment": "production",
        "cluster": "prod-eu",
        "namespace": "shop",
        "workload": "deployment/checkout",
        "images": ["ghcr.io/acme/checkout:1.8.0"],
        "change": {"commit": "abc123", "actor": "alice"},
    }
    falco_lines = (FIXTURES / "falco/events.syscall-k8s.falco-website.jsonl").read_text()
    return {
        "signals": {"signals": [signal]},
        "falco": json.loads(falco_lines.splitlines()[0]),
        "ocsf": _fixture("ocsf/detection_finding.k8s-container.synthetic.ocsf.json"),
        "decisions": decision,
        "approvals": {"outcome": "approve", "reason": "looked at it"},
        "exceptions": {
            **{k: v for k, v in decision.items() if k not in ("images", "change")},
            "signal": "pushed:1",
            "expires": "2026-12-01T00:00:00Z",
            "reason": "accepted risk",
            "ticket": "SEC-1",
        },
        "admission": _fixture("admission/admissionreview.v1.deployment-create.kube-review.json"),
        "argo": {k: v for k, v in decision.items() if k != "change"},
        "flagger": _fixture("flagger/webhook-payload.docs-example.json"),
        "github": _fixture("github/deployment_protection_rule.requested.payload.json"),
    }


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    scope: str  # the credential it needs: decide, approve, admin, ingest, or github (HMAC)
    template: str
    lines: bool = False  # JSON Lines (Falco)


ROUTES = (
    Route("signals", "POST", "/v1/signals", "ingest", "signals"),
    Route("ingest-falco", "POST", "/v1/ingest/falco", "ingest", "falco", lines=True),
    Route("ingest-ocsf", "POST", "/v1/ingest/ocsf", "ingest", "ocsf"),
    Route("decisions", "POST", "/v1/decisions", "decide", "decisions"),
    Route("approvals", "POST", "/v1/decisions/{id}/approvals", "approve", "approvals"),
    Route("break-glass", "POST", "/v1/decisions/{id}/break-glass", "approve", "approvals"),
    Route("exceptions", "POST", "/v1/exceptions", "admin", "exceptions"),
    Route("admission", "POST", "/v1/integrations/k8s/admission", "decide", "admission"),
    Route("argo", "POST", "/v1/integrations/argo/measurement", "decide", "argo"),
    Route("flagger", "POST", "/v1/integrations/flagger/pre-rollout", "decide", "flagger"),
    Route("github", "POST", "/v1/integrations/github/webhook", "github", "github"),
    Route("decisions-list", "GET", "/v1/decisions", "decide", "decisions"),
)

_NASTY: tuple[Any, ...] = (
    2**53,
    2**64,
    -(2**63) - 1,
    10**30,
    -1,
    0,
    1e308,
    -0.0,
    float("nan"),
    float("inf"),
    "\ud800",
    "a\udfffb",
    "\x00",
    "",
    " ",
    "x" * 100_000,
    "é" * 3000,
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "2099-01-01T00:00:00Z",
    "host:",
    "deployment/",
    "../../etc/passwd",
    None,
    True,
    [],
    {},
    [None],
    {"": None},
)


_DEEP = re.compile(rb'"@@deep:(\d+):([ol])@@"')


def _deep(rng: random.Random) -> str:
    """A marker that :func:`_encode` replaces with JSON nested that deep (json.dumps itself
    cannot write deep documents)."""
    return f"@@deep:{rng.choice((10, 65, 100, 300, 1000, 5000))}:{rng.choice('ol')}@@"


def _nested(match: re.Match[bytes]) -> bytes:
    depth = int(match.group(1))
    if match.group(2) == b"l":
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"k":' * depth + b"1" + b"}" * depth


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return _nasty(rng) if rng.random() < 0.5 else rng.randint(-5, 5)
    if roll < 0.75:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(("a", "uid", "request", "", "é")): _random_json(rng, depth + 1)}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _mutate(rng: random.Random, template: Any) -> Any:
    body = json.loads(json.dumps(template))
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        paths = _paths(body)
        path = rng.choice(paths)
        if not path:
            return _random_json(rng)
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        roll = rng.random()
        if roll < 0.15 and isinstance(parent, dict):
            del parent[key]
        elif roll < 0.25 and isinstance(parent, dict):
            parent[rng.choice(("extra", "évil", "\ud800"))] = _nasty(rng)
        elif roll < 0.35:
            parent[key] = _deep(rng)
        elif roll < 0.45 and isinstance(parent, list):
            parent.extend([parent[key]] * rng.choice((10, 10, 100, 1000, 20_000)))
        else:
            parent[key] = _nasty(rng)
    return body


def _nasty(rng: random.Random) -> Any:
    """One hostile value; containers are fresh (a shared one could be mutated into a cycle)."""
    value = rng.choice(_NASTY)
    return type(value)(value) if isinstance(value, list | dict) else value


def _encode(body: Any, lines: bool) -> bytes:
    if lines and isinstance(body, list):
        text = "\n".join(json.dumps(item) for item in body)
    else:
        text = json.dumps(body)
    raw = text.encode("utf-8", "surrogatepass")
    return _DEEP.sub(_nested, raw) if b"@@deep:" in raw else raw


def make_body(rng: random.Random, route: Route, template: Any) -> bytes:
    """One generated body for ``route`` (see the module docstring for the mix)."""
    roll = rng.random()
    if roll < 0.03:
        return _encode(template, route.lines)
    if roll < 0.75:
        return _encode(_mutate(rng, template), route.lines)
    if roll < 0.85:
        return _encode(_random_json(rng), route.lines)
    raw = _encode(template, route.lines)
    return rng.choice(
        (
            raw[: rng.randint(0, len(raw))],
            b"{",
            b"",
            b"\xff\xfe" + raw,
            raw.replace(b'"', b"'", 1),
            bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))),
            b"[" * 100_000,
        )
    )


@dataclass
class Service:
    """The app under fuzz and the credentials for it."""

    app: Any
    tokens: dict[str, str]
    decision_id: str
    close: Callable[[], None]


def build_service(directory: Path) -> Service:
    """The real app over the demo fleet (SQLite in ``directory``), every integration mounted."""
    import yaml
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from clearance.demo import materialize
    from clearance.integrations.settings import IntegrationSettings
    from clearance.model.target import Target
    from clearance.server.app import build_context, create_app
    from clearance.server.settings import ServerSettings
    from clearance.store.interface import Caller, Scope
    from clearance.store.sql import SqlStore

    config_path = materialize(directory, NOW)
    config = yaml.safe_load(config_path.read_text())
    config["ingest"] = {"falco": {"default": {"cluster": "prod-eu"}}}
    config_path.write_text(yaml.safe_dump(config))
    store = SqlStore.open(f"sqlite:///{directory / 'fuzz.db'}")
    scopes = {"decide": Scope.DECIDE, "approve": Scope.APPROVE, "admin": Scope.ADMIN}
    tokens = {n: store.create_token(n, [s], NOW)[1] for n, s in scopes.items()}
    tokens["ingest"] = store.create_token("ingest", ["ingest"], NOW)[1]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    target = {k: v for k, v in _templates()["argo"].items() if k != "images"}
    integrations = IntegrationSettings.model_validate(
        {
            "github": {
                "app_id": "1",
                "private_key": pem,
                "webhook_secret": WEBHOOK_SECRET,
                "api_url": "http://127.0.0.1:9",  # nothing listens: callbacks fail at once
                "retries": 0,
                "environments": {"production": target},
            },
            "admission": {"cluster": "prod-eu", "default_environment": "production"},
            "argo": {"cluster": "prod-eu"},
            "flagger": {"cluster": "prod-eu", "default_environment": "production"},
        }
    )
    ctx = build_context(config_path, store, ServerSettings(), clock=lambda: NOW)
    app = create_app(ctx, integrations=integrations)
    caller = Caller("token:decide", "token")
    outcome = ctx.decisions.decide(Target.of(**target), caller)
    return Service(app, tokens, outcome.record.decision_id, ctx.close)


def _headers(
    rng: random.Random, route: Route, body: bytes, tokens: dict[str, str]
) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    roll = rng.random()
    if route.scope == "github":
        signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers["x-github-event"] = "deployment_protection_rule"
        if roll < 0.85:
            headers["x-hub-signature-256"] = "sha256=" + signature
        return headers
    if roll < 0.85:
        secret = tokens[route.scope]
    elif roll < 0.90:
        return headers
    elif roll < 0.95:
        secret = "clr_garbage" + str(rng.getrandbits(32))
    else:
        secret = tokens[rng.choice([s for s in tokens if s != route.scope])]
    headers["authorization"] = f"Bearer {secret}"
    return headers


@dataclass
class Report:
    bodies: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    sent: Counter[str] = field(default_factory=Counter)
    sink: Path | None = None  # failures are appended here as they happen

    def note(self, route: Route, status: int | None, body: bytes, error: str = "") -> None:
        self.bodies += 1
        if status is not None:
            self.statuses[status] += 1
        if status is not None and status < 500:
            return
        (self.crashes if status is None else self.server_errors)[route.name] += 1
        if len(self.failures) < 50:
            text = body[:2000].decode("utf-8", "replace")
            if self.sink is not None:  # as it happens: a long run's findings are not lost
                failure = {"route": route.name, "status": status, "error": error, "body": text}
                with self.sink.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(failure) + "\n")
            self.failures.append(
                {"route": route.name, "status": status, "error": error, "body": text}
            )


async def fuzz(
    client: Any,
    service: Service,
    bodies: int,
    seed: int,
    workers: int = 8,
    routes: tuple[Route, ...] = ROUTES,
    progress: int = 0,
    sink: Path | None = None,
) -> Report:
    """Send ``bodies`` generated requests through ``client`` (an httpx.AsyncClient)."""
    templates = _templates()
    report = Report(sink=sink)
    counter = iter(range(bodies))

    async def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        for _ in counter:
            route = rng.choice(routes)
            path = route.path.replace("{id}", service.decision_id)
            body = make_body(rng, route, templates[route.template])
            headers = _headers(rng, route, body, service.tokens)
            params = None
            if route.method == "GET":
                params = {"until": rng.choice((*_NASTY[17:20], "2026-11-28T12:00:00Z", "x"))}
                body = b""
            started = time.perf_counter()
            try:
                response = await client.request(
                    route.method, path, content=body, headers=headers, params=params
                )
                report.note(route, response.status_code, body)
            except Exception as exc:  # a crash out of the app is what we count
                report.note(route, None, body, f"{type(exc).__name__}: {exc}"[:500])
            report.seconds[route.name] += time.perf_counter() - started
            report.sent[route.name] += 1
            if progress and report.bodies % progress == 0:
                failed = sum(report.server_errors.values()) + sum(report.crashes.values())
                print(f"{report.bodies} bodies, {failed} failures", file=sys.stderr, flush=True)

    await asyncio.gather(*(worker(i) for i in range(workers)))
    return report


@dataclass
class _Reply:
    status_code: int


class DirectClient:
    """Requests straight into the ASGI app, one ``http`` scope each: what httpx's ASGI
    transport does, without building its request and response objects (a third of the
    in-process cost). The app sees the same scope, headers and body."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes,
        headers: dict[str, str],
        params: dict[str, str] | None = None,
    ) -> _Reply:
        from urllib.parse import urlencode

        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        raw.append((b"content-length", str(len(content)).encode()))
        raw.append((b"host", b"fuzz"))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": urlencode(params or {}).encode(),
            "root_path": "",
            "headers": raw,
            "client": ("127.0.0.1", 40000),
            "server": ("fuzz", 80),
            "state": {},
        }
        body_sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": content, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        return _Reply(status)


async def _run(args: argparse.Namespace, directory: Path) -> Report:
    import httpx

    service = build_service(directory)
    routes = tuple(r for r in ROUTES if not args.routes or r.name in args.routes.split(","))
    try:
        if args.http:
            url, stop = _serve(service.app)
            try:
                async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                    return await fuzz(
                        client,
                        service,
                        args.bodies,
                        args.seed,
                        routes=routes,
                        progress=args.progress,
                        sink=args.failures,
                    )
            finally:
                stop()
        return await fuzz(
            DirectClient(service.app),
            service,
            args.bodies,
            args.seed,
            routes=routes,
            progress=args.progress,
            sink=args.failures,
        )
    finally:
        service.close()


def _serve(app: Any) -> tuple[str, Callable[[], None]]:
    import socket
    import threading

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--http", action="store_true", help="over real HTTP (uvicorn, loopback)")
    parser.add_argument("--progress", type=int, default=0, help="a line every N bodies")
    parser.add_argument("--routes", help="comma-separated route names (default: all)")
    parser.add_argument("--failures", type=Path, help="write failing requests here (JSON Lines)")
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.CRITICAL)  # refusals are logged by design; a million of them is noise
    started = time.perf_counter()
    # The store on tmpfs where there is one: the fuzz measures the API, not the disk's fsync.
    shm = Path("/dev/shm")
    try:
        with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
            report = asyncio.run(_run(args, Path(tmp)))
    finally:
        logging.disable(logging.NOTSET)  # main() is also called by the test suite
    seconds = time.perf_counter() - started
    summary = {
        "bodies": report.bodies,
        "mode": "http" if args.http else "asgi",
        "seconds": round(seconds, 1),
        "bodies_per_second": round(report.bodies / seconds),
        "responses_5xx": sum(report.server_errors.values()),
        "crashes": sum(report.crashes.values()),
        "5xx_by_route": dict(report.server_errors),
        "crashes_by_route": dict(report.crashes),
        "statuses": {str(k): v for k, v in sorted(report.statuses.items())},
        "ms_per_body_by_route": {
            name: round(1000 * report.seconds[name] / count, 2)
            for name, count in sorted(report.sent.items())
        },
        "seed": args.seed,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    print(json.dumps(summary, indent=2))
    return 1 if summary["responses_5xx"] or summary["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
