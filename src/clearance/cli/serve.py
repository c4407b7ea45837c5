"""``clearance serve``: the decision service over HTTP (FastAPI on uvicorn).

The policy is loaded once at start and its exact text stored, so any recorded decision can be
replayed. ``--demo`` materializes the demo fleet and loads its signals into the store, so the
service answers with the demo's real decisions.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clearance.cli._store import add_database_argument
from clearance.config import Config, load_config, locate
from clearance.errors import ConfigError, PortInUseError
from clearance.store.interface import Store

if TYPE_CHECKING:
    from clearance.integrations.settings import IntegrationSettings
    from clearance.server.app import ServerContext
    from clearance.server.settings import AuditSettings

logger = logging.getLogger(__name__)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1); they share the database and its one hash chain. "
        "Each keeps its own /metrics: scrape per process, or run one worker per replica",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--config", help="clearance.yaml (default: $CLEARANCE_CONFIG or ./clearance.yaml)"
    )
    source.add_argument("--demo", action="store_true", help="serve the built-in demo fleet")
    parser.add_argument(
        "--settings",
        type=Path,
        help="server settings YAML (auth, OIDC issuers, break-glass, webhook); see docs/api.md",
    )
    parser.add_argument(
        "--integrations",
        type=Path,
        help="integration settings YAML (GitHub App, admission, Argo, Flagger; "
        "default: $CLEARANCE_INTEGRATIONS); see docs/integrations/",
    )
    parser.add_argument(
        "--tls-cert", type=Path, help="serve HTTPS with this PEM certificate (chain first)"
    )
    parser.add_argument("--tls-key", type=Path, help="the certificate's PEM private key")
    parser.add_argument(
        "--tls-client-ca",
        type=Path,
        help="verify client certificates against this PEM CA bundle (optional for callers with "
        "a token); the admission webhook accepts the subjects in admission.client_subjects",
    )
    parser.add_argument(
        "--no-sync",
        action="store_true",
        help="do not pull sources or consume NATS in this process (a `sync --watch` does it)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text (default), or json: one JSON object a line on stderr, with a request id "
        "per HTTP request (the caller's X-Request-ID, else a new one; returned in that header)",
    )
    add_database_argument(parser)
    parser.set_defaults(run=run)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything says it is serving: a busy port is a
    :class:`PortInUseError` (exit 6), not a line claiming to serve followed by a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # As uvicorn does: a restart may reuse the port of connections still in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"cannot start: {host}:{port} is already in use",
                tip="stop what listens there (`ss -ltnp` shows it), or pass another --port",
            ) from exc
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)  # the worker processes serve on it too
    return sock


def seed(store: Store, config: Config, url: str) -> int:
    """Pull every configured source once into the store, as one ``clearance sync`` does (the
    same poller and storing path), before the first request is served."""
    import time

    from clearance.sync.background import poller_for
    from clearance.sync.leases import lease_for

    lease = lease_for(url)
    try:
        poller = poller_for(config, store, lease, lambda: datetime.now(UTC), time.sleep)
        results = [poller.pull(name) for name in sorted(poller.sources)]
    finally:
        lease.close()
    return sum(r.signals for r in results)


def _tls(cert: Path | None, key: Path | None) -> tuple[str, str] | None:
    """uvicorn's TLS files; both or neither, and both readable before anything starts."""
    if (cert is None) != (key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if cert is None or key is None:
        return None
    for path in (cert, key):
        if not path.is_file():
            raise ConfigError(f"cannot read TLS file {path}")
    return str(cert), str(key)


def _client_tls(ca: Path | None, serving_tls: bool) -> dict[str, Any]:
    """uvicorn's settings to verify client certificates (``--tls-client-ca``): optional, so
    that token callers need none; a verified certificate is reported to the app
    (clearance.server.mtls)."""
    if ca is None:
        return {}
    if not serving_tls:
        raise ConfigError(
            "--tls-client-ca needs --tls-cert and --tls-key (client certificates "
            "are only seen over TLS)"
        )
    if not ca.is_file():
        raise ConfigError(f"cannot read the client CA bundle {ca}")
    import ssl

    from clearance.server.mtls import PROTOCOL

    return {"ssl_cert_reqs": ssl.CERT_OPTIONAL, "ssl_ca_certs": str(ca), "http": PROTOCOL}


def _start_background(stack: ExitStack, config: Config, url: str) -> None:
    """The pull loop and the NATS consumer, on their own store connection (so the workers'
    app contexts can come and go), stopped when the server stops."""
    from clearance.store.sql import SqlStore
    from clearance.sync.background import Background
    from clearance.sync.leases import lease_for

    if not config.sources and config.ingest.falco_nats is None:
        return
    store = SqlStore.open(url, migrate=False)
    stack.callback(store.close)
    lease = lease_for(url)
    stack.callback(lease.close)
    background = Background(config, store, lease, lambda: datetime.now(UTC))
    background.start()
    stack.callback(background.stop)
    names = [s.name for s in config.sources]
    logger.info("syncing %s in the background", ", ".join(names) or "NATS")


def _start_checkpoints(stack: ExitStack, audit: AuditSettings, url: str) -> None:
    """Signed checkpoints of the audit chain, from this (the parent) process only, on its own
    store connection; a last one at a clean stop. Without a key, say loudly what that means."""
    if audit.signing_key is None:
        logger.warning(
            "audit: no server.audit.signing_key: the audit chain is anchored only to itself, "
            "so someone who can write the database can rewrite it undetected; see docs/audit.md"
        )
        return
    from clearance.audit.checkpointer import Checkpointer, CheckpointThread
    from clearance.audit.checkpoints import Mirror
    from clearance.audit.signing import Ed25519FileSigner
    from clearance.policy.schema import duration_seconds
    from clearance.store.sql import SqlStore

    signer = Ed25519FileSigner.from_file(audit.signing_key)  # an unreadable key stops start-up
    store = SqlStore.open(url, migrate=False)
    stack.callback(store.close)
    mirror = None if audit.checkpoints_file is None else Mirror(audit.checkpoints_file)
    checkpointer = Checkpointer(
        store,
        signer,
        every=audit.checkpoint_every,
        interval=timedelta(seconds=duration_seconds(audit.checkpoint_interval)),
        mirror=mirror,
    )
    thread = CheckpointThread(checkpointer, lambda: datetime.now(UTC))
    thread.start()
    stack.callback(thread.stop)
    if mirror is None:
        logger.warning(
            "audit: checkpoints are kept in the database only; set server.audit."
            "checkpoints_file so that deleting them there cannot hide a truncation"
        )
    logger.info("audit: signing checkpoints with %s", signer.key_id)


def run(args: argparse.Namespace) -> int:

    from clearance.server.app import (
        build_context,
        integration_settings,
    )
    from clearance.server.requestlog import configure_logging
    from clearance.server.settings import load_settings
    from clearance.store import database_url
    from clearance.store.sql import SqlStore

    configure_logging(args.log_format, verbose=args.verbose)
    now = datetime.now(UTC)
    settings = load_settings(args.settings)
    integrations = integration_settings(args.integrations)
    tls = _tls(args.tls_cert, args.tls_key)
    scheme = "https" if tls else "http"
    cert, key = tls or (None, None)
    client_tls = _client_tls(args.tls_client_ca, tls is not None)
    with ExitStack() as stack:
        # Bound first: a busy port stops start-up before the store or any thread is touched.
        sock = stack.enter_context(bind(args.host, args.port))
        if args.demo:
            from clearance import demo

            directory = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="clearance-demo-"))
            )
            config_path = demo.materialize(directory, now)
        else:
            config_path = locate(args.config)
        # A bad configuration fails before the store is touched.
        load_config(config_path).close()
        store = SqlStore.open(database_url(args.database))
        stack.callback(store.close)
        if args.demo:
            demo_config = load_config(config_path)
            stack.callback(demo_config.close)
            count = seed(store, demo_config, database_url(args.database))
            logger.info("demo: loaded %d signals into the store", count)
        ctx = build_context(config_path, store, settings)  # stores the policy text, checks all
        _start_checkpoints(stack, settings.audit, database_url(args.database))
        if not args.no_sync:
            _start_background(stack, ctx.config, database_url(args.database))
        port = sock.getsockname()[1]  # --port 0: the one the system chose
        print(
            f"clearance: serving on {scheme}://{args.host}:{port} (OpenAPI at /openapi.json)"
            + ("; integrations mounted under /v1/integrations" if integrations else ""),
            flush=True,
        )
        _listen(args, sock, ctx, config_path, integrations, tls=(cert, key), **client_tls)
    return 0


def _listen(
    args: argparse.Namespace,
    sock: socket.socket,
    ctx: ServerContext,
    config_path: Path,
    integrations: IntegrationSettings | None,
    *,
    tls: tuple[str | None, str | None],
    **client_tls: Any,
) -> None:
    """Serve on the bound ``sock`` until stopped: in this process, or in ``--workers`` worker
    processes that build their own app from the environment set here."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from clearance.config import CONFIG_ENV
    from clearance.server.app import INTEGRATIONS_ENV, LOG_FORMAT_ENV, SETTINGS_ENV, create_app
    from clearance.server.collector import make_full_collections_rare
    from clearance.store import DATABASE_URL_ENV, database_url

    options: dict[str, Any] = {
        "host": args.host,
        "port": sock.getsockname()[1],
        "log_config": None,  # keep the handlers configure_logging installed
        "log_level": "warning",
        "ssl_certfile": tls[0],
        "ssl_keyfile": tls[1],
        "timeout_keep_alive": ctx.settings.keep_alive,
        **client_tls,
    }
    if args.workers > 1:
        ctx.close()
        os.environ[CONFIG_ENV] = str(config_path.resolve())
        os.environ[DATABASE_URL_ENV] = database_url(args.database)
        os.environ[LOG_FORMAT_ENV] = args.log_format
        if args.settings is not None:
            os.environ[SETTINGS_ENV] = str(args.settings.resolve())
        if args.integrations is not None:
            os.environ[INTEGRATIONS_ENV] = str(args.integrations.resolve())
        factory = "clearance.server.app:app_from_environment"
        config = uvicorn.Config(factory, factory=True, workers=args.workers, **options)
        Multiprocess(config, sockets=[sock]).run()
        return
    make_full_collections_rare()  # the workers do it in app_from_environment
    server = uvicorn.Server(uvicorn.Config(create_app(ctx, integrations=integrations), **options))
    server.run(sockets=[sock])
    if not server.started:
        raise PortInUseError("cannot start: the service failed during start-up (see above)")
