"""The command centre behind the hub's auth model: who may read, who may act, and that an
action carries the user logged in down to the community hub."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from pydantic import SecretStr

from hub.api.deps import SESSION_COOKIE
from hub.auth.roles import Role
from hub.auth.settings import AuthSettings
from hub.centre.api import create_centre_app
from hub.centre.config import load_centre_config
from hub.centre.service import Centre
from tests.federation.conftest import Federation, eventually
from tests.service.conftest import PASSWORD, HubClient

BOUND_S = 5.0


async def test_roles_at_the_centre(federation: Federation) -> None:
    centre, north = federation.centre, federation.communities["north"]
    north.inject("b1-101-smoke", {"smoke": True}, 30)
    await eventually(lambda: any(s == "north" for s, _ in centre.board.active),
                     timeout=BOUND_S, what="north's alert at the centre")
    (alert_id,) = [a for s, a in centre.board.active if s == "north"]
    ack = f"/api/communities/north/alerts/{alert_id}/ack"

    # Nobody logged in: the page and the health check only.
    async with HubClient(federation.api.app) as anonymous:
        assert (await anonymous.get("/")).status_code == 200
        assert (await anonymous.get("/api/health")).status_code == 200
        for path in ("/api/communities", "/api/warnings", "/api/communities/north/alerts"):
            assert (await anonymous.get(path)).status_code == 401, path
        assert (await anonymous.post(ack, json={})).status_code == 401

    # A viewer (a wall screen) reads, and is refused every action.
    async with federation.api.as_user("screen", Role.VIEWER) as viewer:
        assert (await viewer.get("/api/communities")).status_code == 200
        assert (await viewer.get(f"{ack[:-4]}")).status_code == 200
        refused = await viewer.post(ack, json={"note": "x"})
        assert refused.status_code == 403, refused.text
        assert "screen (viewer)" in refused.json()["detail"]
        assert (await viewer.post(f"{ack[:-4]}/escalate", json={})).status_code == 403
        assert (await viewer.post("/api/warnings", json={
            "event": "e", "headline": "h", "description": "d"})).status_code == 403
    assert centre.board.alert("north", alert_id)["state"] == "active_unack"  # type: ignore[index]

    # A duty officer acts, as who is logged in: a name in the body is refused.
    async with federation.api.as_user("wang", Role.DUTY_OFFICER) as wang:
        assert (await wang.post(ack, json={"user": "someone-else"})).status_code == 422
        r = await wang.post(ack, json={"note": "派人核实"})
        assert r.status_code == 202, r.text
        assert r.json()["user"] == "wang"
        me = (await wang.get("/api/me")).json()
        assert (me["name"], me["role"]) == ("wang", "duty_officer")

    def acked_at_the_hub() -> bool:
        record = north.hub.db.alert(alert_id)
        return record is not None and record.acknowledged_by == "centre:xuhui/wang"

    await eventually(acked_at_the_hub, timeout=BOUND_S, what="wang's ack at the north hub")
    assert [(e.transition, e.user, e.note) for e in north.hub.db.alert_events(alert_id)][-1] \
        == ("acknowledged", "centre:xuhui/wang", "派人核实")
    audit = (await federation.api.get("/api/audit", params={"actor": "wang"})).json()
    assert ("centre.ack", f"north/{alert_id}", "派人核实") in [
        (e["action"], e["target"], e["detail"]) for e in audit]


async def test_a_centre_has_no_care_operators_and_tokens_work(
        federation: Federation) -> None:
    api = federation.api
    r = await api.post("/api/users", json={"name": "zhao", "password": PASSWORD,
                                           "role": "care_operator"})
    assert r.status_code == 422
    assert "no care_operator role" in r.json()["detail"]
    assert (await api.post("/api/tokens", json={"name": "bot",
                                                "role": "care_operator"})).status_code == 422
    token = (await api.post("/api/tokens", json={"name": "wall-1",
                                                 "role": "viewer"})).json()["token"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app),
                                 base_url="http://centre",
                                 headers={"Authorization": f"Bearer {token}"}) as machine:
        assert (await machine.get("/api/communities")).status_code == 200
        assert (await machine.post("/api/warnings/x/cancel")).status_code == 403
    async with HubClient(api.app) as logged_out:
        await logged_out.login("admin")
        assert (await logged_out.post("/api/logout")).status_code == 204
        assert (await logged_out.get("/api/communities")).status_code == 401


async def test_the_first_admin_comes_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "centre.yaml"
    config.write_text(yaml.safe_dump({"centre": {"name": "xuhui"}, "data": "centre-data"}),
                      encoding="utf-8")
    centre = Centre(load_centre_config(config))  # not started: logging in needs no broker
    settings = AuthSettings(admin_user="chief", admin_password=SecretStr("first-password-1"))
    app = create_centre_app(centre, manage=False, settings=settings)
    try:
        async with HubClient(app) as client:
            assert (await client.post("/api/login", json={
                "username": "chief", "password": "wrong-password"})).status_code == 401
            await client.login("chief", "first-password-1")
            assert client.cookies.get(SESSION_COOKIE)  # HTTP-only, set by the hub's router
            assert (await client.get("/api/me")).json()["role"] == "admin"
    finally:
        app.state.web.close()
    assert (tmp_path / "centre-data" / "auth.db").exists()
