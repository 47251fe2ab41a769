"""`/api/alerts/live` over a real socket: the snapshot, each transition as it is stored, who
may listen, and what happens to a page that stops reading."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hub.api.deps import SESSION_COOKIE
from hub.api.livefeed import MAX_PENDING, Subscriber
from tests.service.conftest import PASSWORD, eventually
from tests.web.conftest import LiveHub

Message = dict[str, Any]


async def receive(ws: ClientConnection, timeout: float = 5.0) -> Message:
    message: Message = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def transition(ws: ClientConnection, wanted: Callable[[Message], bool],
                     timeout: float = 5.0) -> Message:
    """The next transition the predicate accepts (heartbeats and others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await receive(ws, timeout)
            if message["type"] == "transition" and wanted(message):
                return message


async def refused(url: str, **kwargs: Any) -> tuple[int, str]:
    async with connect(url, **kwargs) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def login_cookie(live: LiveHub, user: str) -> str:
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{live.url}/api/login",
                              json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    # The cookie is Secure (loopback counts as a secure context) and HTTP-only.
    header = r.headers["set-cookie"].lower()
    assert "httponly" in header
    assert "secure" in header
    assert "samesite=strict" in header
    return r.cookies[SESSION_COOKIE]


async def test_snapshot_then_every_transition_as_it_is_stored(live_hub: LiveHub) -> None:
    live_hub.publish("b1-201-gas", {"gas_lel": 40})

    async def gas() -> bool:
        return len(await live_hub.active()) == 1

    await eventually(gas, what="gas alert before connecting")
    token = await live_hub.token("viewer", "wall-1")
    async with connect(f"{live_hub.ws_url}?token={token}") as ws:
        snapshot = await receive(ws)
        assert snapshot["type"] == "snapshot"
        [gas_alert] = snapshot["alerts"]
        assert gas_alert["rule"] == "gas_leak"
        assert gas_alert["place_name"]["zh"] == "1号楼 2层 201室"
        assert gas_alert["told"], "the floor leader and duty officer were told"

        live_hub.event("b1-101-sos", "sos")
        raised = await transition(ws, lambda m: m["alert"]["rule"] == "sos_pressed")
        sos = raised["alert"]
        assert raised["transition"] == "raised"
        assert sos["severity"] == "critical"
        assert sos["resident"] == {"id": "res-1", "name": "王秀英"}
        # Nobody acknowledges: the next role up the chain hears in 2 min (critical).
        assert sos["next_escalation_at"] == pytest.approx(sos["notified_at"] + 120)
        assert abs(raised["now"] - sos["raised_at"]) < 5

        async with live_hub.api.as_user("care-op", "care_operator") as care:
            r = await care.post(f"/api/alerts/{sos['id']}/ack",
                                json={"outcome": "called", "note": "老人说是误按"})
            assert r.status_code == 200, r.text
            acked = await transition(ws, lambda m: m["transition"] == "acknowledged")
            assert (acked["by"], acked["outcome"], acked["note"]) == (
                "care-op", "called", "老人说是误按")
            assert acked["alert"]["next_escalation_at"] is None
            await care.post(f"/api/alerts/{sos['id']}/clear", json={"outcome": "false_alarm"})
        cleared = await transition(ws, lambda m: m["transition"] == "cleared")
        assert cleared["alert"]["active"] is False
        assert cleared["alert"]["told"] is None


async def test_many_pages_get_the_same_transition(live_hub: LiveHub) -> None:
    token = await live_hub.token("viewer")
    sockets = [await connect(f"{live_hub.ws_url}?token={token}") for _ in range(20)]
    try:
        for ws in sockets:
            assert (await receive(ws))["type"] == "snapshot"
        live_hub.publish("b1-102-leak", {"water_leak": True})
        got = await asyncio.gather(*(transition(ws, lambda m: m["transition"] == "raised")
                                     for ws in sockets))
        assert {m["alert"]["id"] for m in got} == {got[0]["alert"]["id"]}
    finally:
        for ws in sockets:
            await ws.close()
    await eventually(lambda: live_hub.app.state.web.live.subscribers == 0,
                     what="closed sockets unsubscribed")


async def test_who_may_listen(live_hub: LiveHub) -> None:
    url = live_hub.ws_url
    code, reason = await refused(url)
    assert code == 4401
    assert "log in" in reason
    assert await refused(f"{url}?token=sw_nope") == (4401, "unknown, expired or revoked API token")

    token = await live_hub.token("viewer", "old-screen")
    token_id = next(t["id"] for t in (await live_hub.api.get("/api/tokens")).json()
                    if t["name"] == "old-screen")
    await live_hub.api.delete(f"/api/tokens/{token_id}")
    assert (await refused(f"{url}?token={token}"))[0] == 4401

    cookie = await login_cookie(live_hub, "duty")
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    # Another site's page must not ride the duty officer's cookie.
    code, reason = await refused(url, additional_headers=headers, origin="http://evil.example")
    assert (code, reason) == (4401, "cross-site WebSocket refused")
    async with connect(url, additional_headers=headers,
                       origin=live_hub.url) as ws:  # type: ignore[arg-type]
        assert (await receive(ws))["type"] == "snapshot"
    # Logged out: the cookie no longer opens the feed.
    async with httpx.AsyncClient(cookies={SESSION_COOKIE: cookie}) as client:
        assert (await client.post(f"{live_hub.url}/api/logout")).status_code == 204
    assert (await refused(url, additional_headers=headers))[0] == 4401


async def test_a_page_that_stops_reading_gets_a_fresh_snapshot_not_the_backlog() -> None:
    subscriber = Subscriber()
    for i in range(MAX_PENDING):
        subscriber.push(f"m{i}")
    assert len(await subscriber.next(0.01)) == MAX_PENDING
    for i in range(MAX_PENDING + 5):
        subscriber.push(f"m{i}")
    backlog = await subscriber.next(0.01)
    assert subscriber.resync is True, "overflowed: it will be sent a snapshot instead"
    assert len(backlog) == 4  # only what came after the overflow
    assert await subscriber.next(0.01) == []
    subscriber.close()
    assert await subscriber.next(10) == []  # closed: returns at once
