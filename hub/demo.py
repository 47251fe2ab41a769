"""`shouwang demo`: everything a newcomer needs in one process.

An embedded broker (amqtt) unless one is given, the hub with its HTTP API and duty board, and
a small simulated community that reports live and now and then has an incident (smoke in a
home, a gas leak, a leaking pipe) that raises an alert and clears again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devices.site import Site
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


async def _incidents(site: Site, fleet: Fleet, client: Any, stop: asyncio.Event,
                     every_s: float, length_s: float) -> None:
    rng = random.Random(3)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        if stop.is_set():
            return
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
            print(f"\n守望 Shouwang demo — {config.site.name} ({len(config.site.devices)} devices)")
            print(f"  duty board      http://127.0.0.1:{options.http_port}/")
            print(f"  API docs        http://127.0.0.1:{options.http_port}/docs")
            print(f"  metrics         http://127.0.0.1:{options.http_port}/metrics")
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
