"""Hubs against the real mosquitto of the `broker` fixture, and an HTTP client to each,
logged in as an admin (`api.as_user(...)` logs in someone else)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI

from hub.api.app import create_app
from hub.api.deps import SESSION_COOKIE
from hub.auth.roles import Role
from hub.config import HubConfig, load_config
from hub.service import Hub
from tests.conftest import DATA, Broker

HubFactory = Callable[[], "asynccontextmanager[tuple[Hub, httpx.AsyncClient]]"]


@pytest.fixture
def hub_config(tmp_path: Path, broker: Broker) -> HubConfig:
    config = {
        "site": str(DATA / "site.yaml"),
        "mqtt": {"host": broker.host, "port": broker.port, "client_id": "hub-under-test"},
        "store": {"path": str(tmp_path / "data")},
    }
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return load_config(path)


PASSWORD = "test-password-1"
ADMIN = "admin"


class HubClient(httpx.AsyncClient):
    """An HTTP client of the app in-process, logged in with the session cookie as a page is
    (and sending the header cookie-authenticated writes need)."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(transport=httpx.ASGITransport(app=app), base_url="http://hub",
                         headers={"X-Requested-By": "tests"})
        self.app = app

    async def login(self, name: str, password: str = PASSWORD) -> HubClient:
        r = await self.post("/api/login", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        return self

    @asynccontextmanager
    async def as_user(self, name: str, role: Role | str,
                      password: str = PASSWORD) -> AsyncIterator[HubClient]:
        """A new user of `role` (added through this client's API), logged in."""
        r = await self.post("/api/users", json={"name": name, "password": password,
                                                "role": Role(role).value})
        assert r.status_code == 201, r.text
        async with HubClient(self.app) as client:
            yield await client.login(name, password)


@asynccontextmanager
async def api_client(hub: Hub) -> AsyncIterator[HubClient]:
    """The app of a running hub and a client logged in to it as an admin."""
    app = create_app(hub, manage=False)
    auth = app.state.web.auth
    if auth.user(ADMIN) is None:  # a restarted hub keeps its users
        auth.add_user(ADMIN, PASSWORD, Role.ADMIN)
    try:
        async with HubClient(app) as client:
            yield await client.login(ADMIN)
    finally:
        app.state.web.close()


def admin_env() -> dict[str, str]:
    """The environment for a hub in another process: it creates the admin at start."""
    return {**os.environ, "SHOUWANG_ADMIN_USER": ADMIN, "SHOUWANG_ADMIN_PASSWORD": PASSWORD}


def http_login(port: int, name: str = ADMIN, password: str = PASSWORD) -> httpx.Client:
    """A client of a hub in another process (started with `admin_env()`), logged in. The
    cookie is Secure on loopback, which httpx keeps to itself over http: passed by hand."""
    base = f"http://127.0.0.1:{port}"
    r = httpx.post(f"{base}/api/login", json={"username": name, "password": password})
    assert r.status_code == 200, r.text
    return httpx.Client(base_url=base, cookies={SESSION_COOKIE: r.cookies[SESSION_COOKIE]},
                        headers={"X-Requested-By": "tests"})


@asynccontextmanager
async def running_hub(config: HubConfig) -> AsyncIterator[tuple[Hub, HubClient]]:
    async with Hub(config) as hub, api_client(hub) as client:
        yield hub, client


async def eventually(check: Callable[[], object], timeout: float = 5.0,
                     what: str = "condition") -> None:
    """Poll until `check()` is truthy (it may be async)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.02)
