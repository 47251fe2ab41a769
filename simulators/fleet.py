"""A simulated community: every device reports at its kind's interval, on canonical topics.

`Fleet` decides what is due and what it says (no I/O); `publish_fleet` sends it over MQTT with
paho, like real devices would. Hazards are injected as value overrides for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from dataclasses import dataclass

import numpy as np
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from devices.site import Site
from devices.topics import Channel, device_topic
from simulators.signals import Values, normal_values

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Injection:
    values: Values
    until: float


class Fleet:
    def __init__(self, site: Site, *, interval_scale: float = 1.0, min_interval_s: float = 1.0,
                 seed: int = 1) -> None:
        self.site = site
        self._rng = np.random.default_rng(seed)
        picker = random.Random(seed)
        self._phase = {d: picker.random() for d in site.devices}
        self._interval = {
            d: max(min_interval_s, info.kind.report_interval_s * interval_scale)
            for d, info in site.devices.items()
        }
        self._due: list[tuple[float, str]] = []
        self._injections: dict[str, Injection] = {}
        self.sent = 0

    def start(self, now: float) -> None:
        """Spread first reports over one interval so the fleet does not report in lockstep."""
        self._due = [(now + self._phase[d] * self._interval[d], d) for d in self.site.devices]
        heapq.heapify(self._due)

    def due(self, now: float) -> list[tuple[str, bytes]]:
        out = []
        while self._due and self._due[0][0] <= now:
            _, device_id = heapq.heappop(self._due)
            out.append(self.telemetry(device_id, now))
            heapq.heappush(self._due, (now + self._interval[device_id], device_id))
        return out

    def telemetry(self, device_id: str, now: float) -> tuple[str, bytes]:
        kind = self.site.devices[device_id].kind.name
        values: dict[str, object] = {"ts": round(now, 3)}
        values.update(normal_values(kind, now, self._rng, self._phase[device_id]))
        injection = self._injections.get(device_id)
        if injection is not None:
            if now < injection.until:
                values.update(injection.values)
            else:
                del self._injections[device_id]
        self.sent += 1
        return device_topic(self.site.id, device_id, Channel.TELEMETRY), orjson.dumps(values)

    def inject(self, device_id: str, values: Values, now: float, duration_s: float
               ) -> tuple[str, bytes]:
        """Override values for a while; returns the telemetry to send at once."""
        if device_id not in self.site.devices:
            raise KeyError(f"no device {device_id!r} in site {self.site.id!r}")
        self._injections[device_id] = Injection(values, now + duration_s)
        return self.telemetry(device_id, now)


def connect_publisher(host: str, port: int, client_id: str,
                      username: str | None = None, password: str | None = None) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if username is not None:
        client.username_pw_set(username, password)
    client.max_queued_messages_set(0)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    return client


async def publish_fleet(fleet: Fleet, client: paho.Client, stop: asyncio.Event, *,
                        step_s: float = 0.2) -> None:
    """Publish due telemetry until `stop` is set; devices first announce themselves online."""
    for device_id in fleet.site.devices:
        client.publish(device_topic(fleet.site.id, device_id, Channel.AVAILABILITY),
                       b"online", qos=1, retain=True)
    fleet.start(time.time())
    while not stop.is_set():
        for topic, payload in fleet.due(time.time()):
            client.publish(topic, payload, qos=1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), step_s)
