"""Three brokers on loopback — two communities' bridged to a centre's — with a hub on each
community broker and a command centre on the centre's, as `shouwang bridge-config` and
`shouwang command-centre` would set them up. The centre's HTTP client is logged in as an
admin (`federation.api.as_user(...)` logs in someone else), as the hub's tests are."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml

from devices.site import Site
from hub.auth.roles import Role
from hub.bridge import bridge_config
from hub.centre.api import create_centre_app
from hub.centre.config import load_centre_config
from hub.centre.service import Centre
from hub.config import CentreLinkConfig, load_config
from hub.service import Hub
from simulators.fleet import Fleet, connect_publisher, publish_fleet
from tests.conftest import DATA, Broker, Listener, free_port, mosquitto_config
from tests.federation.capdocs import NORTH, SOUTH
from tests.federation.certs import Signer, make_signer
from tests.service.conftest import ADMIN, PASSWORD, HubClient

SITES = {"north": NORTH, "south": SOUTH}
CENTRE = "xuhui"


def centre_broker_config(port: int, directory: Path) -> Path:
    """Like the test brokers, but with persistence: the centre broker is restarted in the
    cut-link test and must keep the sessions (the bridges', the centre's) over it."""
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
        "max_queued_messages 1000000\nmax_inflight_messages 1000\n"
        f"persistence true\npersistence_location {directory}/\n"
        + ("user root\n" if os.geteuid() == 0 else ""), encoding="utf-8")
    return config


def site_file(directory: Path, site_id: str, location: tuple[float, float]) -> Path:
    text = (DATA / "site.yaml").read_text(encoding="utf-8").replace(
        "id: testsite", f"id: {site_id}\nlocation: {{lat: {location[0]}, lon: {location[1]}}}", 1)
    path = directory / f"{site_id}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Community:
    id: str
    broker: Broker
    hub: Hub
    site: Site
    fleet: Fleet
    publisher: paho.Client
    listeners: list[Listener] = field(default_factory=list)

    def listen(self, topic: str) -> Listener:
        listener = Listener(self.broker, topic)
        self.listeners.append(listener)
        return listener

    def inject(self, device_id: str, values: dict[str, float | bool], seconds: float) -> float:
        """A hazard on one device, sent at once; returns when it was published."""
        topic, payload = self.fleet.inject(device_id, values, time.time(), seconds)
        self.publisher.publish(topic, payload, qos=1)
        return time.time()


@dataclass
class Federation:
    centre_broker: Broker
    centre: Centre
    api: HubClient
    communities: dict[str, Community]
    signer: Signer
    stop_fleet: asyncio.Event


async def eventually(check: Callable[[], object], timeout: float = 10.0,
                     what: str = "condition") -> float:
    """Poll until `check()` is truthy; returns the seconds it took."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.02)


def hub_config(tmp_path: Path, site_id: str, broker: Broker, centre_port: int, cert: Path,
               **federation: Any) -> Path:
    directory = tmp_path / site_id
    directory.mkdir(exist_ok=True)
    path = directory / "hub.yaml"
    path.write_text(yaml.safe_dump({
        "site": str(site_file(directory, site_id, SITES[site_id])),
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": f"hub-{site_id}"},
        "store": {"path": str(directory / "data")},
        "delivery": {"receivers": {"cmd": {"channel": "mqtt"}},
                     "routes": [{"name": "all", "people": ["duty_officer"], "via": ["cmd"]}],
                     "retry": {"first": "0.1s", "max": "0.5s"}},
        "federation": {"centre": {"host": "127.0.0.1", "port": centre_port, "name": CENTRE},
                       "cap": {"require_signature": True, "trusted_certs": [str(cert)]},
                       **federation},
    }), encoding="utf-8")
    return path


@pytest.fixture
async def federation(tmp_path: Path) -> AsyncIterator[Federation]:
    signer = make_signer("xuhui command centre")
    key, cert = signer.write(tmp_path, "centre")
    centre_dir = tmp_path / "centre-broker"
    centre_dir.mkdir()
    centre_port = free_port()
    centre_broker = Broker("127.0.0.1", centre_port, centre_broker_config(centre_port,
                                                                          centre_dir))
    centre_broker.start()
    stop_fleet = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(centre_broker.stop)
        communities: dict[str, Community] = {}
        for site_id in SITES:
            port = free_port()
            directory = tmp_path / f"{site_id}-broker"
            directory.mkdir()
            # Exactly what `shouwang bridge-config` prints, with quick reconnects for a test.
            fragment = bridge_config(site_id, CentreLinkConfig(host="127.0.0.1",
                                                               port=centre_port, name=CENTRE),
                                     restart=(1, 2), keepalive_s=5)
            broker = Broker("127.0.0.1", port, mosquitto_config(port, directory, fragment))
            broker.start()
            stack.callback(broker.stop)
            config = load_config(hub_config(tmp_path, site_id, broker, centre_port, cert))
            hub = await stack.enter_async_context(Hub(config))
            fleet = Fleet(config.site, interval_scale=0.01)
            publisher = connect_publisher("127.0.0.1", port, f"sim-{site_id}")
            stack.callback(publisher.loop_stop)
            stack.callback(publisher.disconnect)
            task = asyncio.create_task(publish_fleet(fleet, publisher, stop_fleet))
            stack.push_async_callback(_finish, task, stop_fleet)
            communities[site_id] = Community(site_id, broker, hub, config.site, fleet,
                                             publisher)
            stack.callback(_close_listeners, communities[site_id])
        centre_yaml = tmp_path / "centre.yaml"
        centre_yaml.write_text(yaml.safe_dump({
            "centre": {"name": CENTRE, "title": "徐汇某街道应急指挥中心", "communities": [
                {"id": s, "name": f"{s}社区", "location": {"lat": p[0], "lon": p[1]}}
                for s, p in SITES.items()]},
            "mqtt": {"host": "127.0.0.1", "port": centre_port},
            "data": str(tmp_path / "centre-data"),
            "cap": {"sign": {"key_file": str(key), "cert_file": str(cert)}},
        }), encoding="utf-8")
        centre_config = load_centre_config(centre_yaml)
        centre = await stack.enter_async_context(Centre(
            centre_config, mqtt=replace(centre_config.mqtt_options(), reconnect_max_s=2)))
        api = await stack.enter_async_context(centre_client(centre))
        # The bridges are up once each has delivered its hub's retained status.
        await eventually(lambda: all(c.hub_online for c in centre.communities.values()),
                         what="both communities online at the centre")
        yield Federation(centre_broker, centre, api, communities, signer, stop_fleet)


@contextlib.asynccontextmanager
async def centre_client(centre: Centre) -> AsyncIterator[HubClient]:
    """The centre's app and a client logged in to it as an admin (added to its auth.db)."""
    app = create_centre_app(centre, manage=False)
    auth = app.state.web.auth
    if auth.user(ADMIN) is None:
        auth.add_user(ADMIN, PASSWORD, Role.ADMIN)
    try:
        async with HubClient(app) as client:
            yield await client.login(ADMIN)
    finally:
        app.state.web.close()


async def _finish(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await task


def _close_listeners(community: Community) -> None:
    for listener in community.listeners:
        listener.close()
