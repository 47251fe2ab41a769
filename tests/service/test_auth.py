"""Users, roles, sessions and API tokens through the HTTP API of a real hub: every endpoint with
every role, allowed and refused; logging in and out; tokens; what hub.db keeps."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import SecretStr

from hub.api.deps import SESSION_COOKIE
from hub.api.web_state import open_auth_store
from hub.auth.settings import AuthSettings
from hub.centre.access import open_centre_auth
from hub.config import HubConfig
from tests.conftest import Broker, publisher
from tests.service.conftest import PASSWORD, HubClient, eventually, running_hub
from tests.web.conftest import SITE, write_web_config

ROLES = ("admin", "duty_officer", "care_operator", "viewer")
EVERYONE = frozenset(ROLES)
RESPONDERS = frozenset({"admin", "duty_officer"})
CARERS = frozenset({"admin", "duty_officer", "care_operator"})
ADMIN = frozenset({"admin"})
NOBODY: frozenset[str] = frozenset()

OPEN_ROUTES = {
    ("GET", "/api/health"), ("GET", "/metrics"), ("POST", "/api/login"),
    ("POST", "/api/login/token"), ("POST", "/api/logout"), ("GET", "/"), ("GET", "/care"),
    ("GET", "/alerts/{alert_id}"), ("GET", "/static/{name}"), ("GET", "/vendor/echarts.min.js"),
}


@pytest.fixture
def config(tmp_path: Path, broker: Broker) -> HubConfig:
    return write_web_config(tmp_path, broker)


def publish(broker: Broker, device: str, body: dict[str, object], channel: str = "telemetry"
            ) -> None:
    pub = publisher(broker, f"pub-{device}")
    pub.publish(f"shouwang/{SITE}/dev/{device}/{channel}", orjson.dumps(body),
                qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()


async def two_alerts(api: HubClient, broker: Broker) -> tuple[str, str]:
    """A gas alert and an elderly-care (SOS) alert: (gas id, care id)."""
    publish(broker, "b1-201-gas", {"gas_lel": 40})
    publish(broker, "b1-101-sos", {"type": "sos"}, "event")

    async def both() -> bool:
        return len((await api.get("/api/alerts", params={"state": "active"})).json()) == 2

    await eventually(both, what="gas and SOS alerts")
    by_rule = {a["rule"]: a["id"] for a in
               (await api.get("/api/alerts", params={"state": "active"})).json()}
    return by_rule["gas_leak"], by_rule["sos_pressed"]


# ---------------------------------------------------------------------- the role matrix

@dataclass
class World:
    admin: HubClient
    gas: str
    care: str
    serial: list[int] = field(default_factory=lambda: [0])

    def next(self) -> int:
        self.serial[0] += 1
        return self.serial[0]

    async def silence(self, category: str) -> str:
        r = await self.admin.post("/api/silences", json={"reason": "maintenance",
                                                         "category": category})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def user(self) -> str:
        name = f"spare-{self.next()}"
        r = await self.admin.post("/api/users", json={"name": name, "password": PASSWORD,
                                                      "role": "viewer"})
        assert r.status_code == 201, r.text
        return name

    async def token(self) -> str:
        r = await self.admin.post("/api/tokens", json={"name": f"spare-{self.next()}",
                                                       "role": "viewer"})
        return str(r.json()["id"])


Fill = Callable[[World], Awaitable[str]] | Callable[[World], str] | str


@dataclass(frozen=True)
class Case:
    method: str
    route: str
    allowed: frozenset[str]
    """Roles that get past the door (any answer but 401/403); everyone else gets 403."""
    path: Fill | None = None
    body: Callable[[World], Any] | None = None
    by_token: frozenset[str] | None = None
    """When an API token of the role is allowed something else than a logged-in user."""


async def _fill(fill: Fill | None, world: World, route: str) -> str:
    if fill is None:
        return route
    if isinstance(fill, str):
        return fill
    value = fill(world)
    return await value if asyncio.iscoroutine(value) else value  # type: ignore[return-value]


CASES = [
    Case("GET", "/api/me", EVERYONE),
    Case("POST", "/api/me/password", EVERYONE, body=lambda w: {"current": PASSWORD,
                                                               "new": PASSWORD},
         by_token=NOBODY),
    Case("GET", "/api/devices", EVERYONE),
    Case("GET", "/api/devices/{device_id}", EVERYONE, "/api/devices/b1-101-gas"),
    Case("GET", "/api/devices/{device_id}/readings", EVERYONE,
         "/api/devices/b1-101-gas/readings"),
    Case("GET", "/api/alerts", EVERYONE),
    Case("GET", "/api/alerts/{alert_id}", EVERYONE, lambda w: f"/api/alerts/{w.gas}"),
    Case("GET", "/api/alerts/{alert_id}/deliveries", EVERYONE,
         lambda w: f"/api/alerts/{w.gas}/deliveries"),
    Case("GET", "/api/alerts/{alert_id}/cap", EVERYONE, lambda w: f"/api/alerts/{w.gas}/cap"),
    Case("GET", "/api/cap/feed", EVERYONE),
    Case("POST", "/api/alerts/{alert_id}/ack", RESPONDERS, lambda w: f"/api/alerts/{w.gas}/ack",
         body=lambda w: {"note": "on my way"}),
    Case("POST", "/api/alerts/{alert_id}/ack", CARERS, lambda w: f"/api/alerts/{w.care}/ack",
         body=lambda w: {"outcome": "called"}),
    Case("POST", "/api/alerts/{alert_id}/clear", RESPONDERS,
         lambda w: f"/api/alerts/{w.gas}/clear", body=lambda w: {}),
    Case("POST", "/api/alerts/{alert_id}/clear", CARERS,
         lambda w: f"/api/alerts/{w.care}/clear", body=lambda w: {"outcome": "visited"}),
    Case("GET", "/api/silences", EVERYONE),
    Case("POST", "/api/silences", RESPONDERS,
         body=lambda w: {"reason": "pump service", "category": "fire"}),
    Case("POST", "/api/silences", CARERS,
         body=lambda w: {"reason": "resident in hospital", "category": "elderly_care",
                         "place": "b1/f1/101"}),
    Case("DELETE", "/api/silences/{silence_id}", RESPONDERS,
         lambda w: _path("/api/silences/", w.silence("fire"))),
    Case("DELETE", "/api/silences/{silence_id}", CARERS,
         lambda w: _path("/api/silences/", w.silence("elderly_care"))),
    Case("GET", "/api/quarantine", EVERYONE),
    Case("GET", "/api/drill", EVERYONE),
    Case("GET", "/api/warnings", EVERYONE),
    Case("GET", "/api/federation", EVERYONE),
    Case("POST", "/api/cap", ADMIN),
    Case("POST", "/api/drill", RESPONDERS, body=lambda w: {"name": "消防演练"}),
    Case("DELETE", "/api/drill", RESPONDERS),
    Case("GET", "/api/clock", EVERYONE),
    Case("PUT", "/api/clock", RESPONDERS, body=lambda w: {"speed": 2}),
    Case("GET", "/api/site", EVERYONE),
    Case("GET", "/api/site/status", EVERYONE),
    Case("GET", "/api/site/places/{place_id}", EVERYONE, "/api/site/places/b1/f1"),
    Case("GET", "/api/residents", EVERYONE),
    Case("GET", "/api/residents/{resident_id}", EVERYONE, "/api/residents/res-1"),
    Case("POST", "/api/residents/{resident_id}/checkins", CARERS,
         "/api/residents/res-1/checkins", body=lambda w: {"outcome": "called"}),
    Case("GET", "/api/users", ADMIN),
    Case("POST", "/api/users", ADMIN, body=lambda w: {
        "name": f"new-{w.next()}", "password": PASSWORD, "role": "viewer"}),
    Case("PATCH", "/api/users/{name}", ADMIN, lambda w: _path("/api/users/", w.user()),
         body=lambda w: {"display_name": "值班员"}),
    Case("DELETE", "/api/users/{name}", ADMIN, lambda w: _path("/api/users/", w.user())),
    Case("GET", "/api/tokens", ADMIN),
    Case("POST", "/api/tokens", ADMIN, body=lambda w: {"name": f"bot-{w.next()}",
                                                       "role": "viewer"}),
    Case("DELETE", "/api/tokens/{token_id}", ADMIN, lambda w: _path("/api/tokens/", w.token())),
    Case("GET", "/api/audit", ADMIN),
]


async def _path(prefix: str, target: Awaitable[str]) -> str:
    return prefix + await target


def api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every HTTP endpoint, however FastAPI nests included routers."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.update((m, route.path.replace(":path", "")) for m in route.methods)
            elif hasattr(route, "original_router"):  # FastAPI's lazily included routers
                walk(route.original_router.routes)

    walk(app.routes)
    return found


async def run_matrix(world: World, clients: dict[str, HubClient], anonymous: HubClient,
                     *, tokens: bool) -> list[str]:
    wrong = []
    for case in CASES:
        allowed = case.by_token if tokens and case.by_token is not None else case.allowed
        for role in ROLES:
            path = await _fill(case.path, world, case.route)
            body = case.body(world) if case.body else None
            r = await clients[role].request(case.method, path, json=body)
            refused = r.status_code in (401, 403)
            if ((role in allowed) == refused or (refused and r.status_code != 403)
                    or r.status_code >= 500):
                wrong.append(f"{case.method} {path} as {role}"
                             f"{' (token)' if tokens else ''}: {r.status_code} {r.text[:120]}")
        r = await anonymous.request(case.method, await _fill(case.path, world, case.route),
                                    json=case.body(world) if case.body else None)
        if r.status_code != 401:
            wrong.append(f"{case.method} {case.route} without login: {r.status_code}")
    return wrong


async def test_every_endpoint_with_every_role(config: HubConfig, broker: Broker) -> None:
    async with running_hub(config) as (_hub, api), contextlib.AsyncExitStack() as stack:
        assert api_routes(api.app) == {(c.method, c.route) for c in CASES} | OPEN_ROUTES, \
            "an endpoint without a row in the role matrix (add it to CASES or OPEN_ROUTES)"
        users = {role: await stack.enter_async_context(api.as_user(f"u-{role}", role))
                 for role in ROLES}
        anonymous = await stack.enter_async_context(HubClient(api.app))
        gas, care = await two_alerts(api, broker)
        wrong = await run_matrix(World(api, gas, care), users, anonymous, tokens=False)

        bots = {}
        for role in ROLES:
            secret = (await api.post("/api/tokens", json={"name": f"t-{role}", "role": role})
                      ).json()["token"]
            bots[role] = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=api.app), base_url="http://hub",
                headers={"Authorization": f"Bearer {secret}"}))
        publish(broker, "b1-201-gas", {"gas_lel": 0})  # let the gas alert clear, then again
        gas, care = await two_alerts(api, broker)
        wrong += await run_matrix(World(api, gas, care, [1000]), bots,  # type: ignore[arg-type]
                                  anonymous, tokens=True)
        assert wrong == [], "\n".join(wrong)

        # The open routes answer without a login (and the pages hold no data).
        for method, route in sorted(OPEN_ROUTES - {("POST", "/api/login"),
                                                   ("POST", "/api/login/token")}):
            path = route.replace("{alert_id}", "x").replace("{name}", "common.js")
            r = await anonymous.request(method, path)
            assert r.status_code in (200, 204, 404), (method, path, r.status_code)


# ---------------------------------------------------------------------- logging in

async def test_login_cookie_logout_and_who_am_i(config: HubConfig) -> None:
    async with running_hub(config) as (_hub, api):
        me = (await api.get("/api/me")).json()
        assert me == {"name": "admin", "display_name": "admin", "role": "admin", "kind": "user",
                      "permissions": {"handle_alerts": True, "handle_care_alerts": True,
                                      "silence": True, "silence_care": True, "check_in": True,
                                      "drills": True, "administer": True}}
        async with HubClient(api.app) as client:
            r = await client.post("/api/login", json={"username": "admin",
                                                      "password": PASSWORD})
            cookie = r.headers["set-cookie"].lower()
            assert "httponly" in cookie
            assert "samesite=strict" in cookie
            assert "max-age=43200" in cookie  # twelve hours
            assert "secure" not in cookie  # plain http to a LAN name: see the README
            assert (await client.post("/api/logout")).status_code == 204
            gone = await client.get("/api/alerts")
            assert gone.status_code == 401
            assert "log in first" in gone.json()["detail"]
            assert gone.headers["www-authenticate"] == "Bearer"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app),
                                     base_url="https://hub.example") as tls:
            r = await tls.post("/api/login", json={"username": "admin", "password": PASSWORD})
            assert "secure" in r.headers["set-cookie"].lower()
        async with HubClient(api.app) as client:
            client.cookies.set(SESSION_COOKIE, "made-up")
            r = await client.get("/api/me")
            assert (r.status_code, r.json()["detail"]) == (401, "your session has ended: log "
                                                                "in again")


async def test_wrong_passwords_are_refused_then_throttled(config: HubConfig) -> None:
    async with running_hub(config) as (_hub, api), HubClient(api.app) as client:
        for _ in range(5):
            r = await client.post("/api/login", json={"username": "admin", "password": "nope"})
            assert r.status_code == 401
            assert r.json()["detail"] == ("wrong user name or password, or the account is "
                                          "disabled")
        r = await client.post("/api/login", json={"username": "admin", "password": PASSWORD})
        assert r.status_code == 429
        assert "too many wrong passwords for 'admin'" in r.json()["detail"]
        assert int(r.headers["retry-after"]) > 250
        r = await client.post("/api/login", json={"username": "ghost", "password": PASSWORD})
        assert r.status_code == 401  # a name that does not exist looks the same
        audit = (await api.get("/api/audit", params={"actor": "admin"})).json()
        assert [e["action"] for e in audit].count("login.failed") == 5


async def test_cookie_writes_need_the_csrf_header_tokens_do_not(config: HubConfig,
                                                                broker: Broker) -> None:
    async with running_hub(config) as (_hub, api):
        _gas, care = await two_alerts(api, broker)
        bare = httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app),
                                 base_url="http://hub", cookies=api.cookies)
        r = await bare.post(f"/api/alerts/{care}/ack", json={})
        assert r.status_code == 403
        assert "X-Requested-By" in r.json()["detail"]
        assert (await bare.get("/api/alerts")).status_code == 200  # reads need no header
        secret = (await api.post("/api/tokens", json={"name": "dispatch", "role": "duty_officer"})
                  ).json()["token"]
        bot = httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app),
                                base_url="http://hub",
                                headers={"Authorization": f"Bearer {secret}"})
        r = await bot.post(f"/api/alerts/{care}/ack", json={"note": "robot saw it"})
        assert r.status_code == 200
        assert r.json()["acknowledged_by"] == "token:dispatch"
        basic = await bot.get("/api/alerts", headers={"Authorization": "Basic YTpi"})
        assert basic.status_code == 401
        assert "Authorization: Bearer" in basic.json()["detail"]
        await bare.aclose()
        await bot.aclose()


# ---------------------------------------------------------------------- tokens

async def test_tokens_are_shown_once_work_by_role_and_can_be_revoked(config: HubConfig) -> None:
    async with running_hub(config) as (_hub, api):
        r = await api.post("/api/tokens", json={"name": "wall-1", "role": "viewer"})
        assert r.status_code == 201
        made = r.json()
        secret = made["token"]
        assert secret.startswith("sw_")
        assert len(secret) > 40
        listed = (await api.get("/api/tokens")).json()
        assert [t["name"] for t in listed] == ["wall-1"]
        assert "token" not in listed[0]
        assert listed[0]["created_by"] == "admin"

        wall = httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app),
                                 base_url="http://hub",
                                 headers={"Authorization": f"Bearer {secret}"})
        me = (await wall.get("/api/me")).json()
        assert (me["name"], me["role"], me["kind"]) == ("token:wall-1", "viewer", "token")
        assert (await wall.post("/api/silences", json={"reason": "x", "category": "fire"})
                ).status_code == 403
        # A wall screen trades the token for a session cookie once.
        async with HubClient(api.app) as screen:
            r = await screen.post("/api/login/token", json={"token": secret})
            assert r.status_code == 200
            assert "max-age=2592000" in r.headers["set-cookie"].lower()  # thirty days
            assert (await screen.get("/api/site")).status_code == 200
            assert (await api.delete(f"/api/tokens/{made['id']}")).status_code == 200
            assert (await screen.get("/api/site")).status_code == 401  # its session ended too
            again = await screen.post("/api/login/token", json={"token": secret})
            assert again.status_code == 401
        assert (await wall.get("/api/alerts")).status_code == 401
        assert (await api.delete(f"/api/tokens/{made['id']}")).status_code == 409
        assert (await api.delete("/api/tokens/nope")).status_code == 404

        short = (await api.post("/api/tokens", json={"name": "brief", "role": "viewer",
                                                     "days": 0.000002})).json()
        await asyncio.sleep(0.3)
        r = await wall.get("/api/alerts", headers={"Authorization": f"Bearer {short['token']}"})
        assert r.status_code == 401
        await wall.aclose()


# ---------------------------------------------------------------------- users

async def test_admins_manage_users_and_changes_bite_at_once(config: HubConfig,
                                                            broker: Broker) -> None:
    async with running_hub(config) as (_hub, api):
        gas, _care = await two_alerts(api, broker)
        taken = await api.post("/api/users", json={"name": "admin", "password": PASSWORD,
                                                   "role": "viewer"})
        assert (taken.status_code, taken.json()["detail"]) == (409, "user 'admin' already exists")
        weak = await api.post("/api/users", json={"name": "li", "password": "short",
                                                  "role": "viewer"})
        assert weak.status_code == 422
        odd = await api.post("/api/users", json={"name": "li/../x", "password": PASSWORD,
                                                 "role": "viewer"})
        assert odd.status_code == 422

        async with api.as_user("wang", "duty_officer") as wang:
            # Demoted while logged in: the next write is refused, no new login needed.
            await api.patch("/api/users/wang", json={"role": "viewer"})
            r = await wang.post(f"/api/alerts/{gas}/ack", json={})
            assert r.status_code == 403
            assert r.json()["detail"] == ("wang (viewer) may not acknowledge a gas alert (care "
                                          "operators handle elderly-care alerts only)")
            await api.patch("/api/users/wang", json={"disabled": True})
            assert (await wang.get("/api/me")).status_code == 401
            r = await wang.post("/api/login", json={"username": "wang", "password": PASSWORD})
            assert r.status_code == 401
            await api.patch("/api/users/wang", json={"disabled": False,
                                                     "role": "duty_officer"})
            await wang.login("wang")
            assert (await wang.post(f"/api/alerts/{gas}/ack", json={})).status_code == 200
            assert (await api.delete("/api/users/wang")).status_code == 200
            assert (await wang.get("/api/me")).status_code == 401
        assert (await api.delete("/api/users/wang")).status_code == 404
        assert (await api.patch("/api/users/ghost", json={"role": "viewer"})).status_code == 404

        # The last admin stays an admin.
        for r in (await api.patch("/api/users/admin", json={"role": "viewer"}),
                  await api.patch("/api/users/admin", json={"disabled": True}),
                  await api.delete("/api/users/admin")):
            assert r.status_code == 409
            assert "last admin" in r.json()["detail"]
        users = (await api.get("/api/users")).json()
        assert [(u["name"], u["role"]) for u in users] == [("admin", "admin")]

        actions = [(e["actor"], e["action"], e["target"]) for e in
                   reversed((await api.get("/api/audit")).json())]
        assert ("admin", "user.add", "wang") in actions
        assert ("wang", "alert.ack", gas) in actions
        assert ("admin", "user.remove", "wang") in actions


async def test_changing_your_password_ends_your_other_sessions(config: HubConfig) -> None:
    async with running_hub(config) as (_hub, api), \
            api.as_user("zhao", "care_operator") as here, HubClient(api.app) as elsewhere:
        await elsewhere.login("zhao")
        wrong = await here.post("/api/me/password", json={"current": "guess-guess",
                                                          "new": "new-password-2"})
        assert wrong.status_code == 403
        r = await here.post("/api/me/password", json={"current": PASSWORD,
                                                      "new": "new-password-2"})
        assert r.status_code == 204
        assert (await here.get("/api/me")).status_code == 200
        assert (await elsewhere.get("/api/me")).status_code == 401
        await elsewhere.login("zhao", "new-password-2")


# ---------------------------------------------------------------------- storage and setup

async def test_hub_db_keeps_hashes_and_digests_never_secrets(config: HubConfig) -> None:
    async with running_hub(config) as (_hub, api):
        secret = (await api.post("/api/tokens", json={"name": "bot", "role": "viewer"})
                  ).json()["token"]
        session = api.cookies[SESSION_COOKIE]
    db_file = config.data_dir / "hub.db"
    db = sqlite3.connect(db_file)
    try:
        [(password_hash,)] = db.execute("SELECT password_hash FROM users").fetchall()
        assert password_hash.startswith("$argon2id$")
        assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] >= 1
    finally:
        db.close()
    raw = b"".join(p.read_bytes() for p in config.data_dir.glob("hub.db*"))
    for plain in (PASSWORD, secret, session):
        assert plain.encode() not in raw


def test_the_first_admin_comes_from_the_environment(tmp_path: Path) -> None:
    settings = AuthSettings(admin_password=SecretStr("first-admin-pw"), admin_user="root")
    store = open_auth_store(tmp_path / "hub.db", settings)
    assert store.check_login("root", "first-admin-pw") is not None
    store.close()
    # Once there are users the variable changes nothing (it never resets a password).
    store = open_auth_store(tmp_path / "hub.db",
                            AuthSettings(admin_password=SecretStr("other-password")))
    assert [u.name for u in store.users()] == ["root"]
    assert store.check_login("root", "first-admin-pw") is not None
    store.close()
    weak = open_auth_store(tmp_path / "other.db", AuthSettings(admin_password=SecretStr("x")))
    assert weak.users() == []
    weak.close()


def test_a_hub_and_a_centre_without_users_say_how_to_add_one(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hub.auth.store"):
        open_auth_store(tmp_path / "hub.db", AuthSettings(admin_password=None)).close()
        open_centre_auth(tmp_path / "centre.db", AuthSettings(admin_password=None)).close()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "nobody can log in" in warnings[0]
    assert "shouwang user add NAME --role admin" in warnings[0]
    assert "At the centre: set SHOUWANG_ADMIN_PASSWORD" in warnings[1]


def test_the_user_command(tmp_path: Path) -> None:
    def user(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hub.auth.cli", "user", *args,
                               "--data", str(tmp_path)], input=stdin, capture_output=True,
                              text=True, timeout=60, check=False)

    added = user("add", "liu", "--role", "duty_officer", "--password-stdin",
                 stdin="a-good-password\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added liu (duty_officer)"
    token = user("token", "wall-1")
    assert token.stdout.startswith("sw_")
    assert "shown once" in token.stderr
    listed = user("list").stdout
    assert "liu" in listed
    assert "wall-1" in listed
    weak = user("add", "ma", "--role", "viewer", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2
    assert weak.stderr.strip() == "shouwang: a password needs at least 8 characters"
    again = user("add", "liu", "--role", "viewer", "--password-stdin", stdin="a-good-password\n")
    assert (again.returncode, again.stderr.strip()) == (2, "shouwang: user 'liu' already exists")
    assert user("add", "x", "--role", "boss").returncode == 2


async def test_openapi_documents_both_ways_to_log_in(config: HubConfig) -> None:
    async with running_hub(config) as (_hub, api):
        spec = (await api.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["token"] == {"type": "http", "scheme": "bearer",
                                "description": schemes["token"]["description"]}
    assert schemes["session"]["in"] == "cookie"
    assert spec["paths"]["/api/alerts/{alert_id}/ack"]["post"]["security"]
    assert "security" not in spec["paths"]["/api/health"]["get"]
