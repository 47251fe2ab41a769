"""`shouwang demo`: everything a newcomer needs in one process.

An embedded broker (amqtt) unless one is given, the hub with its HTTP API and pages, and a
small simulated community that reports live and now and then has an incident (smoke in a
home, a gas leak, a leaking pipe) that raises an alert and clears again, or a resident in the
care programme presses their SOS button. Users for each role are made (new passwords every
start) and printed, with a link that logs a wall screen in read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devices.site import Site
from hub.auth.roles import Role
from hub.auth.store import AuthStore
from hub.config import load_config
from hub.server import serve
from hub.service import Hub
from simulators.fleet import Fleet, connect_publisher, publish_fleet
from simulators.sitegen import SiteShape, generate_site

logger = logging.getLogger(__name__)

INCIDENTS: list[tuple[str, dict[str, float | bool], str]] = [
    ("smoke_detector", {"smoke": True, "smoke_density": 14.0}, "烟感报警 smoke"),
    ("gas_detector", {"gas_lel": 32.0}, "燃气泄漏 gas leak"),
    ("water_leak", {"water_leak": True}, "漏水 water leak"),
]
CARE_EVENT_SHARE = 0.3
"""Of the incidents, this share is a resident pressing their SOS button."""

DEMO_USERS = (("admin", Role.ADMIN), ("duty", Role.DUTY_OFFICER), ("care", Role.CARE_OPERATOR),
              ("viewer", Role.VIEWER))
WALL_TOKEN = "demo-wall"  # noqa: S105 (the token's name)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    http_port: int = 8080
    mqtt_port: int = 1883
    broker: tuple[str, int] | None = None
    """An existing broker to use instead of the embedded one."""
    data_dir: Path = Path("shouwang-demo")
    incident_every_s: float = 45.0
    incident_length_s: float = 30.0
    interval_scale: float = 0.01
    """Devices report 100x more often than in life, so the board moves."""


def write_demo_files(options: DemoOptions, host: str, port: int) -> Path:
    options.data_dir.mkdir(parents=True, exist_ok=True)
    site_path = options.data_dir / "site.yaml"
    site_path.write_text(yaml.safe_dump(generate_site(SiteShape()), allow_unicode=True,
                                        sort_keys=False), encoding="utf-8")
    config_path = options.data_dir / "hub.yaml"
    config: dict[str, Any] = {
        "site": "site.yaml",
        "mqtt": {"host": host, "port": port, "client_id": "shouwang-demo-hub"},
        "store": {"path": "data"},
        "http": {"host": "127.0.0.1", "port": options.http_port},
        # Tell people over MQTT command topics (shouwang/<site>/command/<person>), so the
        # pages show who was told and when the next step up the chain comes.
        "delivery": {
            "receivers": {"duty": {"channel": "mqtt"}},
            "routes": [
                {"name": "care", "match": {"categories": ["elderly_care"]},
                 "people": ["care_operator"], "via": ["duty"]},
                {"name": "community", "people": ["floor_leader", "duty_officer"],
                 "via": ["duty"]},
            ],
            "escalation": {"critical": "2m", "major": "5m", "minor": "15m", "warning": "30m"},
            "public_url": f"http://127.0.0.1:{options.http_port}",
        },
    }
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return config_path


async def _start_embedded_broker(port: int) -> Any:
    from amqtt.broker import Broker

    broker = Broker({
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                    {"allow_anonymous": True}},
    })
    await broker.start()
    return broker


def demo_logins(data_dir: Path) -> tuple[list[tuple[str, Role, str]], str]:
    """A user of each role with a fresh password (SHOUWANG_ADMIN_PASSWORD for the admin if
    set), and a new read-only token for a wall screen."""
    store = AuthStore(data_dir / "hub.db")
    logins = []
    try:
        for name, role in DEMO_USERS:
            password = (os.environ.get("SHOUWANG_ADMIN_PASSWORD") if role is Role.ADMIN
                        else None) or secrets.token_urlsafe(9)
            if store.user(name) is None:
                store.add_user(name, password, role, by="demo")
            else:
                store.update_user(name, by="demo", password=password, role=role,
                                  disabled=False)
            logins.append((name, role, password))
        for token in store.tokens():
            if token.name == WALL_TOKEN and token.revoked_at is None:
                store.revoke_token(token.id, by="demo")
        _, secret = store.create_token(WALL_TOKEN, Role.VIEWER, by="demo")
    finally:
        store.close()
    return logins, secret


async def _incidents(site: Site, fleet: Fleet, client: Any, stop: asyncio.Event,
                     every_s: float, length_s: float) -> None:
    rng = random.Random(3)
    sos_buttons = [d for d, info in site.devices.items() if info.kind.name == "sos_button"]
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        if stop.is_set():
            return
        if sos_buttons and rng.random() < CARE_EVENT_SHARE:
            device_id = rng.choice(sos_buttons)
            topic, payload = fleet.event(device_id, "sos", time.time())
            client.publish(topic, payload, qos=1)
            logger.info("demo incident: SOS pressed at %s", device_id)
            continue
        kind, values, label = rng.choice(INCIDENTS)
        candidates = [d for d, info in site.devices.items() if info.kind.name == kind]
        device_id = rng.choice(candidates)
        topic, payload = fleet.inject(device_id, values, time.time(), length_s)
        client.publish(topic, payload, qos=1)
        logger.info("demo incident: %s at %s for %.0f s", label, device_id, length_s)


async def run_demo(options: DemoOptions) -> None:
    broker = None
    if options.broker is None:
        host, port = "127.0.0.1", options.mqtt_port
        broker = await _start_embedded_broker(port)
    else:
        host, port = options.broker
    config = load_config(write_demo_files(options, host, port))
    logins, wall_token = await asyncio.to_thread(demo_logins, config.data_dir)
    hub = Hub(config)
    stop = asyncio.Event()
    try:
        async with hub:
            fleet = Fleet(config.site, interval_scale=options.interval_scale)
            client = await asyncio.to_thread(connect_publisher, host, port, "shouwang-demo-sim")
            tasks = [
                asyncio.create_task(publish_fleet(fleet, client, stop)),
                asyncio.create_task(_incidents(config.site, fleet, client, stop,
                                               options.incident_every_s,
                                               options.incident_length_s)),
            ]
            base = f"http://127.0.0.1:{options.http_port}"
            print(f"\n守望 Shouwang demo — {config.site.name} ({len(config.site.devices)} devices)")
            print(f"  security room   {base}/")
            print(f"  care console    {base}/care")
            print(f"  wall screen     {base}/?token={wall_token}   (read-only, no login)")
            for name, role, password in logins:
                print(f"  login           {name:<8} {password:<16} {role.value}")
            print(f"  API docs        {base}/docs")
            print(f"  metrics         {base}/metrics")
            print(f"  MQTT broker     mqtt://{host}:{port}"
                  f"{' (embedded)' if broker else ''}")
            print(f"  alerts topic    shouwang/{config.site.id}/alerts/#")
            print(f"  config & data   {options.data_dir.resolve()}")
            print("  Ctrl-C to stop.\n", flush=True)
            try:
                await serve(hub, "127.0.0.1", options.http_port)
            finally:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
                client.disconnect()
                client.loop_stop()
    finally:
        if broker is not None:
            await broker.shutdown()
