"""The command centre's HTTP app: its page, the communities, drill-down, actions, warnings,
and the live feed (server-sent events) the page listens to.

    GET  /                                              the centre's page (logs in first)
    GET  /api/health                                    open, like the hub's
    POST /api/login | /api/login/token | /api/logout    the hub's, on the centre's users
    GET  /api/me | /api/users | /api/tokens | /api/audit ...   likewise (hub.api.users)
    GET  /api/communities                               each with active alerts by severity
    GET  /api/communities/{site}/alerts?state=active|all
    GET  /api/communities/{site}/alerts/{id}            the alert and its transitions here
    POST /api/communities/{site}/alerts/{id}/ack        {note} -> down to the hub
    POST /api/communities/{site}/alerts/{id}/clear      {note} -> down to the hub
    POST /api/communities/{site}/alerts/{id}/escalate   {note} recorded at the centre
    GET  /api/warnings | POST /api/warnings | POST /api/warnings/{id}/cancel
    GET  /api/feed                                      text/event-stream of transitions

Every call but the page, the health check and logging in needs a principal, as on a hub
(`hub.centre.access`): reads a viewer, actions a duty officer or an admin. Actions are
recorded as `centre:<centre>/<user>` with the user logged in (a token's principal is
`token:<name>`), never a name from the request; each is also a line of the centre's audit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import orjson
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from hub.alerts import AlertError
from hub.api import login, users
from hub.api.deps import WebDep
from hub.auth.settings import AuthSettings
from hub.auth.store import AuthError
from hub.centre.access import CentreAccess, OfficerDep, ReaderDep
from hub.centre.board import Change
from hub.centre.page import PAGE
from hub.centre.service import Centre
from hub.centre.warn import WarningRequest
from hub.server import SignalAwareServer

router = APIRouter()
FEED_QUEUE = 10_000
"""Changes a slow page may fall behind by before its feed is closed (it reconnects)."""


def get_centre(request: Request) -> Centre:
    centre: Centre | None = request.app.state.centre
    if centre is None:
        raise HTTPException(503, "the command centre is still starting")
    return centre


CentreDep = Annotated[Centre, Depends(get_centre)]


class ActionBody(BaseModel):
    """Who acts is who is logged in: there is no user field."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=2000)


def change_json(change: Change) -> dict[str, Any]:
    return {"site": change.site, "transition": change.transition, "alert": change.alert,
            "by": change.by, "note": change.note, "applied": change.applied,
            "received": change.received}


@contextlib.contextmanager
def _http_errors() -> Iterator[None]:
    try:
        yield
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get("/api/health")
def health(centre: CentreDep) -> dict[str, Any]:
    return {"status": "ok" if centre.link.connected else "degraded", "centre": centre.name,
            "mqtt_connected": centre.link.connected, "communities": len(centre.communities),
            "alerts_active": len(centre.board.active), "messages": centre.messages,
            "board": dict(centre.board.stats)}


@router.get("/api/communities")
def communities(centre: CentreDep, _reader: ReaderDep) -> list[dict[str, Any]]:
    return centre.community_views()


@router.get("/api/communities/{site}/alerts")
def community_alerts(centre: CentreDep, _reader: ReaderDep, site: str,
                     state: Literal["active", "all"] = "active",
                     limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
    return centre.board.alerts(site, active_only=state == "active", limit=limit)


@router.get("/api/communities/{site}/alerts/{alert_id}")
def community_alert(centre: CentreDep, _reader: ReaderDep, site: str, alert_id: str
                    ) -> dict[str, Any]:
    alert = centre.board.alert(site, alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id!r} of community {site!r}")
    return {"alert": alert, "transitions": centre.board.transitions(site, alert_id)}


@router.post("/api/communities/{site}/alerts/{alert_id}/ack", status_code=202)
async def acknowledge(centre: CentreDep, web: WebDep, officer: OfficerDep, site: str,
                      alert_id: str, body: ActionBody) -> dict[str, Any]:
    """Accepted: the hub acknowledges it, and its transition comes back on the feed."""
    with _http_errors():
        sent = centre.act(site, alert_id, "ack", officer.name, body.note)
    web.auth.record(officer.name, "centre.ack", f"{site}/{alert_id}", body.note)
    return sent.model_dump()


@router.post("/api/communities/{site}/alerts/{alert_id}/clear", status_code=202)
async def clear(centre: CentreDep, web: WebDep, officer: OfficerDep, site: str,
                alert_id: str, body: ActionBody) -> dict[str, Any]:
    with _http_errors():
        sent = centre.act(site, alert_id, "clear", officer.name, body.note)
    web.auth.record(officer.name, "centre.clear", f"{site}/{alert_id}", body.note)
    return sent.model_dump()


@router.post("/api/communities/{site}/alerts/{alert_id}/escalate")
async def escalate(centre: CentreDep, web: WebDep, officer: OfficerDep, site: str,
                   alert_id: str, body: ActionBody) -> dict[str, Any]:
    with _http_errors():
        alert = centre.escalate(site, alert_id, officer.name, body.note)
    web.auth.record(officer.name, "centre.escalate", f"{site}/{alert_id}", body.note)
    return alert


@router.get("/api/warnings")
def issued(centre: CentreDep, _reader: ReaderDep) -> list[dict[str, Any]]:
    return centre.issued()


@router.post("/api/warnings", status_code=201)
async def issue(centre: CentreDep, web: WebDep, officer: OfficerDep, body: WarningRequest
                ) -> dict[str, Any]:
    with _http_errors():
        record = centre.issue(body, officer.name)
    web.auth.record(officer.name, "centre.warning", str(record["id"]), body.event)
    return record


@router.post("/api/warnings/{warning_id}/cancel")
async def cancel(centre: CentreDep, web: WebDep, officer: OfficerDep, warning_id: str
                 ) -> dict[str, Any]:
    with _http_errors():
        record = centre.cancel(warning_id, officer.name)
    web.auth.record(officer.name, "centre.warning.cancel", warning_id)
    return record


@router.get("/api/feed")
async def feed(centre: CentreDep, _reader: ReaderDep) -> StreamingResponse:
    """Every new transition at the centre, as it is stored: `data: {json}` per event."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Change | None] = asyncio.Queue(FEED_QUEUE)

    def put(change: Change | None) -> None:
        try:
            queue.put_nowait(change)
        except asyncio.QueueFull:
            stop()
            queue.get_nowait()
            queue.put_nowait(None)  # too far behind: close; the page reloads and reconnects

    def push(change: Change) -> None:
        loop.call_soon_threadsafe(put, change)

    stop = centre.listen(push)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"
            while True:
                try:
                    change = await asyncio.wait_for(queue.get(), 15)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if change is None:
                    return
                yield b"data: " + orjson.dumps(change_json(change)) + b"\n\n"
        finally:
            stop()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _auth_error(_request: Request, exc: Exception) -> JSONResponse:
    """The hub's user routes let some `AuthError`s through (a role refused by the centre's
    store when creating a token): answer them with their own status."""
    assert isinstance(exc, AuthError)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


def create_centre_app(centre: Centre, *, manage: bool = True,
                      settings: AuthSettings | None = None) -> FastAPI:
    """`manage=False` when the caller starts and stops the centre itself. `settings`: the
    auth settings (from the environment unless given)."""
    web = CentreAccess(centre.config.data_dir, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if manage:
                async with centre:
                    app.state.centre = centre
                    yield
            else:
                app.state.centre = centre
                yield
        finally:
            app.state.centre = None
            web.close()

    app = FastAPI(title="Shouwang command centre", version="0.1.0", lifespan=lifespan,
                  description="守望 — sub-district / city command centre (街道、市级指挥中心)")
    app.state.centre = None if manage else centre
    # The hub's login and user routers read `app.state.web` through `WebDep`; they use only
    # `auth`, `settings` and `throttle` of it, which `CentreAccess` has (hub.centre.access).
    app.state.web = web
    app.add_exception_handler(AuthError, _auth_error)
    app.include_router(login.router)
    app.include_router(users.router)
    app.include_router(router)
    return app


async def serve_centre(centre: Centre, host: str, port: int) -> None:
    # The live feed never ends by itself: on shutdown give open streams 2 s, then close them.
    config = uvicorn.Config(create_centre_app(centre, manage=False), host=host, port=port,
                            log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    await SignalAwareServer(config).serve()
