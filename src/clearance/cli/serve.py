"""``clearance serve``: the decision service over HTTP (FastAPI on uvicorn).

The policy is loaded once at start and its exact text stored, so any recorded decision can be
replayed. ``--demo`` materializes the demo fleet and loads its signals into the store, so the
service answers with the demo's real decisions.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clearance.cli._store import add_database_argument
from clearance.config import Config, load_config, locate
from clearance.errors import ConfigError
from clearance.store.interface import Store

if TYPE_CHECKING:
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
    add_database_argument(parser)
    parser.set_defaults(run=run)


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
    import uvicorn

    from clearance.config import CONFIG_ENV
    from clearance.server.app import (
        INTEGRATIONS_ENV,
        SETTINGS_ENV,
        build_context,
        create_app,
        integration_settings,
    )
    from clearance.server.settings import load_settings
    from clearance.store import DATABASE_URL_ENV, database_url
    from clearance.store.sql import SqlStore

    logging.getLogger("clearance").setLevel(logging.INFO)
    now = datetime.now(UTC)
    settings = load_settings(args.settings)
    integrations = integration_settings(args.integrations)
    tls = _tls(args.tls_cert, args.tls_key)
    scheme = "https" if tls else "http"
    cert, key = tls or (None, None)
    client_tls = _client_tls(args.tls_client_ca, tls is not None)
    with ExitStack() as stack:
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
        print(
            f"clearance: serving on {scheme}://{args.host}:{args.port} (OpenAPI at /openapi.json)"
            + ("; integrations mounted under /v1/integrations" if integrations else "")
        )
        if args.workers > 1:
            ctx.close()
            os.environ[CONFIG_ENV] = str(config_path.resolve())
            os.environ[DATABASE_URL_ENV] = database_url(args.database)
            if args.settings is not None:
                os.environ[SETTINGS_ENV] = str(args.settings.resolve())
            if args.integrations is not None:
                os.environ[INTEGRATIONS_ENV] = str(args.integrations.resolve())
            uvicorn.run(
                "clearance.server.app:app_from_environment",
                factory=True,
                workers=args.workers,
                host=args.host,
                port=args.port,
                log_level="warning",
                ssl_certfile=cert,
                ssl_keyfile=key,
                **client_tls,
            )
        else:
            app = create_app(ctx, integrations=integrations)
            uvicorn.run(
                app,
                host=args.host,
                port=args.port,
                log_level="warning",
                ssl_certfile=cert,
                ssl_keyfile=key,
                **client_tls,
            )
    return 0
