"""The FastAPI app factory. The lifespan starts the Hub and stops it; handlers reach it
through `HubDep` and the web layer's stores through `WebDep`, never through module globals.

Every API route needs a logged-in principal except `/api/health`, `/metrics` (probes and
Prometheus) and the login endpoints; the pages themselves are static shells that log in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from hub.api import (
    alerts,
    cap,
    devices,
    drill,
    federation,
    health,
    live,
    login,
    metrics,
    pages,
    quarantine,
    residents,
    silences,
    site,
    users,
)
from hub.api.deps import current_principal
from hub.api.web_state import WebState
from hub.service import Hub

OPEN = (health, metrics, login, pages, live)
"""Routers without the login requirement (`live` checks its socket itself, `login` has
`/api/me` behind it)."""
LOGGED_IN = (devices, alerts, silences, cap, drill, federation, quarantine, site, residents,
             users)


def create_app(hub: Hub, *, manage: bool = True) -> FastAPI:
    """`manage=False` when the caller starts and stops the hub itself (tests, demo)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if manage:
                async with hub:
                    app.state.hub = hub
                    yield
            else:
                app.state.hub = hub
                yield
        finally:
            app.state.hub = None
            web.close()

    app = FastAPI(title="Shouwang hub", version="0.1.0", lifespan=lifespan,
                  description="守望 — community smart-building and emergency monitoring hub.\n\n"
                              "Log in with `POST /api/login` (a session cookie) or send an "
                              "API token as `Authorization: Bearer sw_...`.")
    # An externally managed hub is already running: serve it even without a lifespan run
    # (httpx's ASGI transport in tests does not run one).
    app.state.hub = None if manage else hub
    web = WebState(hub)
    app.state.web = web
    for module in OPEN:
        app.include_router(module.router)
    for module in LOGGED_IN:
        app.include_router(module.router, dependencies=[Depends(current_principal)])
    return app
