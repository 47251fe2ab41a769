"""A simulated community: every device reports at its kind's interval, in its own format.

`Fleet` decides what is due and what it says (no I/O); `publish_fleet` sends it over MQTT with
paho, like real devices would. Hazards are injected as value overrides for a while.

A device with a `vendor:` mapping speaks that vendor's topics and payloads, written by the
same adapter modules the hub reads them with: Zigbee2MQTT state reports, Tasmota SENSOR
reports, and for a Frigate camera the NVR's `frigate/stats` heartbeat (one camera per message).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from devices.adapters import frigate, tasmota, zigbee2mqtt
from devices.adapters.topics import (
    FRIGATE_AVAILABLE,
    FRIGATE_EVENTS,
    FRIGATE_STATS,
    frigate_status_topic,
    tasmota_lwt_topic,
    tasmota_sensor_topic,
    z2m_availability_topic,
    z2m_state_topic,
)
from devices.site import DeviceInfo, Site, VendorFormat
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
        self._zone = ZoneInfo(site.timezone)
        self._object_ids = itertools.count(1)
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
        info = self.site.devices[device_id]
        values = normal_values(info.kind.name, now, self._rng, self._phase[device_id])
        injection = self._injections.get(device_id)
        if injection is not None:
            if now < injection.until:
                values.update(injection.values)
            else:
                del self._injections[device_id]
        self.sent += 1
        return self._report(info, values, now)

    def _report(self, info: DeviceInfo, values: Values, now: float) -> tuple[str, bytes]:
        vendor = info.vendor
        if vendor is None:
            return (device_topic(self.site.id, info.id, Channel.TELEMETRY),
                    orjson.dumps({"ts": round(now, 3), **values}))
        if vendor.format is VendorFormat.ZIGBEE2MQTT:
            linkquality = int(self._rng.integers(40, 255))
            return z2m_state_topic(vendor.name), zigbee2mqtt.encode_state(values, linkquality)
        if vendor.format is VendorFormat.TASMOTA:
            return (tasmota_sensor_topic(vendor.name),
                    tasmota.encode_sensor(values, now, self._zone))
        return FRIGATE_STATS, frigate.encode_stats({vendor.name: float(values.get("fps", 0.0))})

    def announcements(self) -> list[tuple[str, bytes]]:
        """Every device saying it is online, in its own format: publish retained, at start."""
        out: list[tuple[str, bytes]] = []
        frigate_up = False
        for device_id, info in self.site.devices.items():
            vendor = info.vendor
            if vendor is None:
                out.append((device_topic(self.site.id, device_id, Channel.AVAILABILITY),
                            b"online"))
            elif vendor.format is VendorFormat.ZIGBEE2MQTT:
                out.append((z2m_availability_topic(vendor.name),
                            zigbee2mqtt.encode_availability(True)))
            elif vendor.format is VendorFormat.TASMOTA:
                out.append((tasmota_lwt_topic(vendor.name), tasmota.encode_lwt(True)))
            else:
                if not frigate_up:
                    out.append((FRIGATE_AVAILABLE, b"online"))
                    frigate_up = True
                out += [(frigate_status_topic(vendor.name, role), b"online")
                        for role in ("detect", "record")]
        return out

    def event(self, device_id: str, event_type: str, now: float) -> tuple[str, bytes]:
        """A device event: canonical, or a Frigate camera's tracked person for `intrusion`."""
        info = self.site.devices[device_id]
        if event_type not in info.kind.events:
            raise ValueError(f"a {info.kind.name} has no {event_type!r} event")
        vendor = info.vendor
        if vendor is None:
            return (device_topic(self.site.id, device_id, Channel.EVENT),
                    orjson.dumps({"ts": round(now, 3), "type": event_type}))
        if vendor.format is VendorFormat.FRIGATE and event_type == "intrusion":
            object_id = f"{now:.6f}-sim{next(self._object_ids)}"
            return FRIGATE_EVENTS, frigate.encode_event("new", object_id, vendor.name, now)
        raise ValueError(f"the simulator cannot send a {event_type!r} event in "
                         f"{vendor.format.value} format")

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
    for topic, payload in fleet.announcements():
        client.publish(topic, payload, qos=1, retain=True)
    fleet.start(time.time())
    while not stop.is_set():
        for topic, payload in fleet.due(time.time()):
            client.publish(topic, payload, qos=1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), step_s)
