"""The approvers' web console: server-rendered pages behind an OIDC sign-in (docs/console.md).

Mounted by :func:`clearance.server.app.create_app` when the settings have ``console:``. Its
templates and stylesheet ship in this package and are served by Clearance itself: nothing is
fetched from elsewhere at run time.
"""

from __future__ import annotations

from fastapi import FastAPI

from clearance.server.app import ServerContext


def mount(app: FastAPI, ctx: ServerContext) -> None:
    from clearance.server.console import health  # noqa: PLC0415
    from clearance.server.console.routes import Console, router  # noqa: PLC0415

    app.state.console = Console(ctx)
    app.include_router(router)
    app.include_router(health.router)
