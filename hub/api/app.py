"""The FastAPI app factory. The lifespan starts the Hub and stops it; handlers reach it
through `HubDep`, never through module globals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hub.api import alerts, cap, devices, drill, health, metrics, pages, quarantine, silences
from hub.service import Hub


def create_app(hub: Hub, *, manage: bool = True) -> FastAPI:
    """`manage=False` when the caller starts and stops the hub itself (tests, demo)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage:
            async with hub:
                app.state.hub = hub
                yield
        else:
            app.state.hub = hub
            yield
        app.state.hub = None

    app = FastAPI(title="Shouwang hub", version="0.1.0", lifespan=lifespan,
                  description="守望 — community smart-building and emergency monitoring hub")
    # An externally managed hub is already running: serve it even without a lifespan run
    # (httpx's ASGI transport in tests does not run one).
    app.state.hub = None if manage else hub
    for module in (health, devices, alerts, silences, cap, drill, quarantine, metrics,
                   pages):
        app.include_router(module.router)
    return app
