"""How simulated devices reach the broker, and what the broker says for them when they die.

A will is one message on one topic, so who holds which connection decides what a killed
simulator looks like to the hub. We connect the way the devices of a community do:

- **Gateways** (paho, one connection each) carry the readings and events. Each building has
  one for the devices of its floors and homes (the Zigbee coordinator in the stairwell), each
  grid one for its street-level devices; vendor-format devices go through their own bridge:
  Zigbee2MQTT, or the Frigate NVR. A building or grid gateway's will is `offline` on
  `shouwang/<site>/gateway/<id>/status` (retained); Zigbee2MQTT's is `zigbee2mqtt/bridge/state`,
  Frigate's `frigate/available` — which the hub reads as every Frigate camera going offline.
- **Device sessions**: devices with a network stack of their own — cameras, recorders, power
  meters, lifts, pumps, tanks, water gauges, tilt sensors (`IP_KINDS`), and every Tasmota
  device — each hold one more, idle connection whose only job is the will: `offline` on the
  device's own availability topic (Tasmota: `Offline` on its LWT). Hundreds of them share one
  thread (`simulators.rawmqtt`). After `kill -9` the broker publishes them at once, and the
  hub's offline rules (camera_offline, meter_offline, building_outage) see it.
- Battery sensors behind a gateway (smoke, gas, leak, motion, door, bed, SOS ...) cannot each
  have a will. When the simulator is killed the hub notices them by silence (offline after two
  report intervals) — which is what a real gateway dying looks like too. The hub does not read
  the gateway status topic (yet); it is there for operators and for a future hub rule.

A clean stop publishes `offline` for every device (retained) before the connections close.
After a broker restart the gateways reconnect and announce their devices again (a broker
without persistence has forgotten the retained states).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any, Literal

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from devices.adapters import tasmota, zigbee2mqtt
from devices.adapters.topics import (
    FRIGATE_AVAILABLE,
    FRIGATE_STATS,
    Z2M_BASE,
    frigate_status_topic,
    tasmota_lwt_topic,
    z2m_availability_topic,
)
from devices.mqttpackets import DISCONNECT, PINGREQ
from devices.site import DeviceInfo, Site, VendorFormat
from devices.topics import Channel, device_topic, gateway_status_topic, parse_device_topic
from simulators.rawmqtt import Will, connect_packet, open_session

logger = logging.getLogger(__name__)

IP_KINDS = frozenset({"camera", "nvr", "power_meter", "elevator", "fire_pump", "water_tank",
                      "water_level", "tilt_sensor"})
"""Device kinds with a network connection of their own (and so a will of their own)."""

DeviceWills = Literal["ip", "all", "none"]
"""Which devices hold a will session: IP devices (and Tasmota), every device, or none."""

Z2M_BRIDGE_STATE = f"{Z2M_BASE}/bridge/state"
FRIGATE_GATEWAY = "frigate"
Z2M_GATEWAY = "zigbee2mqtt"


def availability(site: Site, device: DeviceInfo, online: bool) -> list[tuple[str, bytes]]:
    """The retained messages that say a device is online or offline, in its own format."""
    vendor = device.vendor
    if vendor is None:
        return [(device_topic(site.id, device.id, Channel.AVAILABILITY),
                 b"online" if online else b"offline")]
    if vendor.format is VendorFormat.ZIGBEE2MQTT:
        return [(z2m_availability_topic(vendor.name), zigbee2mqtt.encode_availability(online))]
    if vendor.format is VendorFormat.TASMOTA:
        return [(tasmota_lwt_topic(vendor.name), tasmota.encode_lwt(online))]
    word = b"online" if online else b"offline"
    return [(frigate_status_topic(vendor.name, role), word) for role in ("detect", "record")]


def gateway_of(device: DeviceInfo) -> str:
    vendor = device.vendor
    if vendor is not None and vendor.format is VendorFormat.ZIGBEE2MQTT:
        return Z2M_GATEWAY
    if vendor is not None and vendor.format is VendorFormat.FRIGATE:
        return FRIGATE_GATEWAY
    place = device.place
    return place.building if place.building is not None else place.grid


def has_own_session(device: DeviceInfo, wills: DeviceWills) -> bool:
    vendor = device.vendor
    if wills == "none" or (vendor is not None and vendor.format is not VendorFormat.TASMOTA):
        return False  # a Zigbee2MQTT or Frigate device is covered by its bridge's will
    return wills == "all" or device.kind.name in IP_KINDS or vendor is not None


class TopicIndex:
    """Which device a published message speaks for (None for shared NVR-level topics)."""

    def __init__(self, site: Site) -> None:
        self._site = site.id
        self._topics: dict[str, str] = {}
        self._frigate: dict[str, str] = {}
        for device in site.devices.values():
            for topic, _ in availability(site, device, True):
                self._topics[topic] = device.id
            vendor = device.vendor
            if vendor is None:
                continue
            if vendor.format is VendorFormat.FRIGATE:
                self._frigate[vendor.name] = device.id
            elif vendor.format is VendorFormat.ZIGBEE2MQTT:
                self._topics[f"{Z2M_BASE}/{vendor.name}"] = device.id
            else:
                self._topics[f"tele/{vendor.name}/SENSOR"] = device.id

    def device_of(self, topic: str, payload: bytes = b"") -> str | None:
        key = parse_device_topic(topic)
        if key is not None:
            return key.device_id if key.site == self._site else None
        found = self._topics.get(topic)
        if found is None and topic == FRIGATE_STATS and payload:
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
                cameras = orjson.loads(payload)["cameras"]
                if len(cameras) == 1:
                    found = self._frigate.get(next(iter(cameras)))
        return found


class _Gateway:
    """One paho connection carrying the messages of many devices."""

    def __init__(self, name: str, client_id: str, will: tuple[str, bytes],
                 online: bytes, devices: list[str], link: FleetLink) -> None:
        self.name = name
        self.devices = devices
        self.connected = threading.Event()
        self.will = will
        self._online = online
        self._link = link
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if link.username is not None:
            client.username_pw_set(link.username, link.password)
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(1000)  # a gateway streams; 20 would pace it by RTT
        client.will_set(will[0], will[1], qos=1, retain=True)
        client.reconnect_delay_set(1, 5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self.client = client
        self._first = True

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            logger.warning("gateway %s: broker refused the connection: %s", self.name, reason)
            return
        client.publish(self.will[0], self._online, qos=1, retain=True)
        if not self._first:
            logger.info("gateway %s reconnected: announcing its %d devices again", self.name,
                        len(self.devices))
            self._link.announce(self.devices)
        self._first = False
        self.connected.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self.connected.clear()


class FleetLink:
    """The simulated devices' side of the broker: gateways, will sessions, availability."""

    def __init__(self, site: Site, host: str, port: int, *, device_wills: DeviceWills = "ip",
                 client_prefix: str = "sim", keepalive: int = 30,
                 username: str | None = None, password: str | None = None) -> None:
        self.site = site
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.topics = TopicIndex(site)
        self.sent = 0
        self._keepalive = keepalive
        self._online = dict.fromkeys(site.devices, True)
        members: dict[str, list[str]] = {}
        for device in site.devices.values():
            members.setdefault(gateway_of(device), []).append(device.id)
        self._gateway_of = {d: g for g, ds in members.items() for d in ds}
        self._gateways: dict[str, _Gateway] = {}
        for name, devices in members.items():
            if name == Z2M_GATEWAY:
                will = (Z2M_BRIDGE_STATE, orjson.dumps({"state": "offline"}))
                online = orjson.dumps({"state": "online"})
            elif name == FRIGATE_GATEWAY:
                will, online = (FRIGATE_AVAILABLE, b"offline"), b"online"
            else:
                will, online = (gateway_status_topic(site.id, name), b"offline"), b"online"
            self._gateways[name] = _Gateway(name, f"{client_prefix}-{site.id}-gw-{name}", will,
                                            online, devices, self)
        sessions = []
        for device in site.devices.values():
            if has_own_session(device, device_wills):
                topic, payload = availability(site, device, False)[0]
                sessions.append((f"{client_prefix}-{site.id}-{device.id}", Will(topic, payload)))
        self._sessions = WillSessions(host, port, sessions, keepalive=keepalive,
                                      username=username, password=password)

    @property
    def session_count(self) -> int:
        return len(self._sessions.wills)

    @property
    def gateway_count(self) -> int:
        return len(self._gateways)

    def open(self, timeout: float = 10.0) -> None:
        """Connect (blocking): will sessions first, so that a will of a previous run's session
        taken over now is published before this run says its devices are online."""
        self._sessions.open()
        for gateway in self._gateways.values():
            gateway.client.connect(self.host, self.port, keepalive=self._keepalive)
            gateway.client.loop_start()
        deadline = time.monotonic() + timeout
        for gateway in self._gateways.values():
            if not gateway.connected.wait(max(0.0, deadline - time.monotonic())):
                self.close(offline=False)
                raise ConnectionError(f"gateway {gateway.name} could not connect to "
                                      f"mqtt://{self.host}:{self.port} in {timeout:g} s")

    @property
    def connected(self) -> bool:
        return all(g.connected.is_set() for g in self._gateways.values())

    def publish(self, topic: str, payload: bytes, *, device: str | None = None,
                retain: bool = False, qos: int = 1) -> paho.MQTTMessageInfo:
        """Through the gateway of `device` (found from the topic when not given)."""
        device = device or self.topics.device_of(topic, payload)
        gateway = self._gateways[self._gateway_of[device]] if device is not None else \
            next(iter(self._gateways.values()))
        self.sent += 1
        return gateway.client.publish(topic, payload, qos=qos, retain=retain)

    def set_available(self, device_id: str, online: bool) -> None:
        """Say so now (retained), and keep saying so after a reconnect."""
        self._online[device_id] = online
        self._say(device_id, online)

    def is_online(self, device_id: str) -> bool:
        return self._online[device_id]

    def announce(self, devices: Iterable[str] | None = None) -> None:
        """Every (or these) device's current availability, retained."""
        for device_id in self.site.devices if devices is None else devices:
            self._say(device_id, self._online[device_id])

    def _say(self, device_id: str, online: bool) -> None:
        for topic, payload in availability(self.site, self.site.devices[device_id], online):
            self.publish(topic, payload, device=device_id, retain=True)

    def close(self, *, offline: bool = True, timeout: float = 5.0) -> None:
        """`offline`: every device says so first (a clean stop); the wills are not used."""
        last: dict[str, paho.MQTTMessageInfo] = {}
        if offline:
            for device_id in self.site.devices:
                gateway = self._gateways[self._gateway_of[device_id]]
                for topic, payload in availability(self.site, self.site.devices[device_id],
                                                   False):
                    last[gateway.name] = gateway.client.publish(topic, payload, qos=1,
                                                                retain=True)
            for gateway in self._gateways.values():
                if gateway.connected.is_set():
                    topic, payload = gateway.will
                    last[gateway.name] = gateway.client.publish(topic, payload, qos=1,
                                                                retain=True)
        deadline = time.monotonic() + timeout
        for name, info in last.items():
            if self._gateways[name].connected.is_set():
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        self._sessions.close(clean=True)
        for gateway in self._gateways.values():
            gateway.client.disconnect()
            gateway.client.loop_stop()


class WillSessions:
    """Idle MQTT connections that exist for their wills, all served by one thread.

    Each sends PINGREQ every half keepalive and reads (and drops) what comes back; a lost
    connection (a broker restart) is made again with backoff.
    """

    def __init__(self, host: str, port: int, wills: list[tuple[str, Will]], *,
                 keepalive: int = 30, username: str | None = None,
                 password: str | None = None) -> None:
        self.host, self.port = host, port
        self.wills = wills
        self._keepalive = keepalive
        self._credentials = (username, password)
        self._selector = selectors.DefaultSelector()
        self._sockets: dict[int, socket.socket] = {}
        self._lost: dict[int, float] = {}
        """Session index -> when to try again."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reconnects = 0

    def open(self) -> None:
        for index in range(len(self.wills)):
            self._connect(index)
        if self.wills:
            self._thread = threading.Thread(target=self._serve, name="will-sessions",
                                            daemon=True)
            self._thread.start()

    def _connect(self, index: int) -> None:
        client_id, will = self.wills[index]
        username, password = self._credentials
        packet = connect_packet(client_id, keepalive=self._keepalive, will=will,
                                username=username, password=password)
        sock = open_session(self.host, self.port, packet)
        sock.setblocking(False)
        self._sockets[index] = sock
        self._selector.register(sock, selectors.EVENT_READ, index)

    def _drop(self, index: int, retry_in: float) -> None:
        sock = self._sockets.pop(index, None)
        if sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()
        self._lost[index] = time.monotonic() + retry_in

    def _serve(self) -> None:
        ping_every = self._keepalive / 2
        next_ping = time.monotonic() + ping_every
        backoff = 1.0
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.5):
                index = key.data
                try:
                    data = key.fileobj.recv(4096)  # type: ignore[union-attr]
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self._drop(index, backoff)
            now = time.monotonic()
            if now >= next_ping:
                next_ping = now + ping_every
                for index, sock in list(self._sockets.items()):
                    try:
                        sock.send(PINGREQ)
                    except OSError:
                        self._drop(index, backoff)
            for index, when in list(self._lost.items()):
                if now < when or self._stop.is_set():
                    continue
                try:
                    self._connect(index)
                except OSError:
                    self._lost[index] = now + backoff
                    backoff = min(10.0, backoff * 2)
                    continue
                del self._lost[index]
                self.reconnects += 1
                backoff = 1.0

    def close(self, *, clean: bool) -> None:
        """`clean`: DISCONNECT first, so the broker discards the wills."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for sock in self._sockets.values():
            with contextlib.suppress(OSError):
                if clean:
                    sock.setblocking(True)
                    sock.sendall(DISCONNECT)
                sock.close()
        self._sockets.clear()
        self._selector.close()
