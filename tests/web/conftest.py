"""A hub with its HTTP server on a free loopback port (uvicorn in the test's event loop), users
of every role, and headless Chromium (Debian's, driven by Playwright) for the page tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import uvicorn
import yaml
from fastapi import FastAPI

from hub.api.app import create_app
from hub.auth.roles import Role
from hub.config import HubConfig, load_config
from hub.service import Hub
from tests.conftest import Broker, free_port, publisher
from tests.service.conftest import PASSWORD, HubClient

SITE_FILE = Path(__file__).parent / "site.yaml"
SITE = "website"
USERS = {"admin": Role.ADMIN, "duty": Role.DUTY_OFFICER, "care": Role.CARE_OPERATOR,
         "viewer": Role.VIEWER}
CHROMIUM = os.environ.get("SHOUWANG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def write_web_config(tmp_path: Path, broker: Broker, **extra: object) -> HubConfig:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({
        "site": str(SITE_FILE),
        "mqtt": {"host": broker.host, "port": broker.port,
                 "client_id": f"web-hub-{tmp_path.name[-20:]}"},
        "store": {"path": str(tmp_path / "data")},
        "delivery": {
            "receivers": {"cmd": {"channel": "mqtt"}},
            "routes": [
                {"name": "care", "match": {"categories": ["elderly_care"]},
                 "people": ["care_operator"], "via": ["cmd"]},
                {"name": "all", "people": ["floor_leader", "duty_officer"], "via": ["cmd"]},
            ],
            "escalation": {"critical": "2m", "major": "5m"},
        },
        **extra,
    }), encoding="utf-8")
    return load_config(path)


@pytest.fixture
def web_config(tmp_path: Path, broker: Broker) -> HubConfig:
    return write_web_config(tmp_path, broker)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # pytest keeps its own signal handlers


@dataclass
class LiveHub:
    hub: Hub
    app: FastAPI
    url: str
    api: HubClient
    """An admin's in-process client of the same app."""
    broker: Broker

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/alerts/live"

    def publish(self, device: str, body: dict[str, object], channel: str = "telemetry") -> None:
        pub = publisher(self.broker, f"pub-{free_port()}")
        pub.publish(f"shouwang/{SITE}/dev/{device}/{channel}", orjson.dumps(body),
                    qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()

    def event(self, device: str, event_type: str) -> None:
        self.publish(device, {"type": event_type}, "event")

    async def token(self, role: str = "viewer", name: str | None = None) -> str:
        r = await self.api.post("/api/tokens", json={"name": name or f"{role}-{free_port()}",
                                                     "role": role})
        assert r.status_code == 201, r.text
        secret: str = r.json()["token"]
        return secret

    async def active(self) -> list[dict[str, object]]:
        alerts: list[dict[str, object]] = (
            await self.api.get("/api/alerts", params={"state": "active"})).json()
        return alerts


@contextlib.asynccontextmanager
async def serving(config: HubConfig, broker: Broker) -> AsyncIterator[LiveHub]:
    """The hub, its app served on a free port, and a user of each role (password PASSWORD)."""
    async with Hub(config) as hub:
        app = create_app(hub, manage=False)
        auth = app.state.web.auth
        for name, role in USERS.items():
            if auth.user(name) is None:
                auth.add_user(name, PASSWORD, role)
        port = free_port()
        server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="off"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        try:
            async with HubClient(app) as api:
                await api.login("admin")
                yield LiveHub(hub, app, f"http://127.0.0.1:{port}", api, broker)
        finally:
            server.should_exit = True
            await task
            app.state.web.close()


@pytest.fixture
async def live_hub(web_config: HubConfig, broker: Broker) -> AsyncIterator[LiveHub]:
    async with serving(web_config, broker) as live:
        yield live


def chromium_path() -> str:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"Chromium is not installed ({CHROMIUM}): the browser tests need it. Run "
                    "the README's test command, which installs it (apt-get install chromium)")
    return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))


def screenshots_dir(tmp_path: Path) -> Path:
    """SHOUWANG_SCREENSHOTS (e.g. docs/screenshots) keeps them; otherwise pytest's tmp."""
    configured = os.environ.get("SHOUWANG_SCREENSHOTS")
    target = Path(configured) if configured else tmp_path / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    return target
