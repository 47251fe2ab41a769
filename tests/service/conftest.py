"""Hubs against the real mosquitto of the `broker` fixture, and an HTTP client to each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from hub.api.app import create_app
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


@asynccontextmanager
async def running_hub(config: HubConfig) -> AsyncIterator[tuple[Hub, httpx.AsyncClient]]:
    async with Hub(config) as hub:
        transport = httpx.ASGITransport(app=create_app(hub, manage=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
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
