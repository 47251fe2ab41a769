"""`/api/alerts/live`: the alert board over a WebSocket.

On connect: `{"type": "snapshot", "now", "alerts": [...]}` — the active alerts, most severe
and newest first. Then each transition as it is stored: `{"type": "transition",
"transition": "raised" | "acknowledged" | "cleared" | "escalated" | ..., "ts", "now", "by",
"note", "outcome", "alert": {...}}`, and `{"type": "heartbeat", "now"}` after 15 s of quiet.
A page that fell far behind gets a fresh snapshot instead of the backlog. Alerts have the
form of `GET /api/alerts`; `now` is the hub's clock, for "time since" on screens whose own
clock is off.

Log in with the session cookie (pages), `?token=` or `Authorization: Bearer` (machines). A
refused socket is closed with code 4401 and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from hub.api.deps import SESSION_COOKIE, authenticate, get_web
from hub.auth.roles import Principal

logger = logging.getLogger(__name__)

router = APIRouter(tags=["alerts"])

HEARTBEAT_S = 15.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_TRY_AGAIN = 1013


def _same_origin(websocket: WebSocket) -> bool:
    """A browser always sends Origin; another site's page must not ride our cookie."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == websocket.headers.get("host")


def _principal(websocket: WebSocket, token: str | None) -> tuple[Principal | None, str]:
    if token is None and SESSION_COOKIE in websocket.cookies and not _same_origin(websocket):
        return None, "cross-site WebSocket refused"
    try:
        principal = authenticate(get_web(websocket), websocket.headers, websocket.cookies,
                                 token)
    except HTTPException as exc:
        return None, str(exc.detail)
    return principal, "log in first, or connect with ?token=<API token>"


@router.websocket("/api/alerts/live")
async def live_alerts(websocket: WebSocket, token: str | None = None) -> None:
    principal, refusal = _principal(websocket, token)
    await websocket.accept()
    if principal is None:
        await websocket.close(CLOSE_UNAUTHORIZED, refusal)
        return
    if websocket.app.state.hub is None:
        await websocket.close(CLOSE_TRY_AGAIN, "the hub is still starting")
        return
    feed = get_web(websocket).live
    subscriber, snapshot = feed.subscribe()
    reader = asyncio.create_task(_until_closed(websocket))
    reader.add_done_callback(lambda _: subscriber.close())
    try:
        await websocket.send_text(snapshot)
        while not subscriber.closed:
            messages = await subscriber.next(HEARTBEAT_S)
            if subscriber.resync:
                subscriber.resync = False
                messages = [feed.snapshot()]
            elif not messages and not subscriber.closed:
                messages = [feed.heartbeat()]
            for message in messages:
                await websocket.send_text(message)
            feed.sent += len(messages)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the page went away mid-send
    except Exception:
        logger.exception("live feed to %s failed", principal.name)
    finally:
        feed.unsubscribe(subscriber)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the page sends, until it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
