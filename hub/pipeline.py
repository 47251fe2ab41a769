"""The ingest hot path: a batch of raw MQTT messages becomes readings, device state and alerts.

Runs once per batch, not per message, in the event loop. Topic parsing is cached per topic
string (a community has a fixed set of device topics), and counters are plain ints read by
the metrics collector at scrape time rather than Prometheus calls per message.

Vendor topics (Zigbee2MQTT, Frigate, Tasmota: devices/adapters) miss the topic cache, are set
aside while the batch's canonical messages are decoded, and are then decoded together, after
them: a vendor adapter needs the whole batch to settle state topics that flip and flip back.
The canonical hot path pays nothing for them but one emptiness check per batch.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

from devices.adapters import VendorDecodeError, VendorRouter
from devices.codec import (
    DecodeError,
    Reason,
    decode_availability,
    decode_event,
    decode_telemetry,
)
from devices.messages import Availability, DeviceEvent, DeviceMessage, Telemetry
from devices.site import DeviceInfo, Site
from devices.topics import Channel, parse_device_topic
from hub.alerts import AlertBook
from hub.mqtt import RawMessage
from hub.quarantine import Quarantine
from hub.registry import DeviceRegistry
from hub.store.base import ReadingTuple
from rules.engine import Decision, RulesEngine

logger = logging.getLogger(__name__)

_TOPIC_CACHE_LIMIT = 200_000
# Enum members looked up once: `Channel.TELEMETRY` is a descriptor access on every use.
_TELEMETRY, _EVENT = Channel.TELEMETRY, Channel.EVENT


@dataclass(slots=True)
class PipelineStats:
    messages: Counter[str]
    """Accepted messages by channel (telemetry / event / availability)."""
    readings: int = 0
    rule_seconds: float = 0.0
    rule_evaluations: int = 0


class IngestPipeline:
    def __init__(self, site: Site, engine: RulesEngine, alerts: AlertBook,
                 registry: DeviceRegistry, quarantine: Quarantine) -> None:
        self._site = site
        self._engine = engine
        self._alerts = alerts
        self._registry = registry
        self._quarantine = quarantine
        self._topics: dict[str, tuple[DeviceInfo, Channel]] = {}
        self.stats = PipelineStats(Counter())
        self.vendor = VendorRouter(site)
        self._vendor_inbox: list[RawMessage] = []

    def process(self, batch: list[RawMessage], now: float) -> list[ReadingTuple]:
        """Decode and evaluate a batch; return the readings to store. Never raises for input."""
        readings: list[ReadingTuple] = []
        decoded: list[DeviceMessage] = []
        n_telemetry = n_events = n_availability = 0
        topics, registry = self._topics, self._registry
        seen: dict[str, float] = {}  # device -> last heard, given to the registry per batch
        add_reading, add_decoded = readings.append, decoded.append
        for topic, payload, received in batch:
            route = topics.get(topic) or self._route(topic, payload, received)
            if route is None:
                continue
            device, channel = route
            try:
                if channel is _TELEMETRY:
                    telemetry, problems = decode_telemetry(device, payload, received)
                    if problems:
                        for problem in problems:
                            self._quarantine.add(received, topic, problem.reason,
                                                 problem.detail, payload, device.id,
                                                 partial=True)
                    ts, device_id = telemetry.ts, device.id
                    for metric, value in telemetry.values:
                        add_reading((device_id, metric, ts, value))
                    seen[device_id] = received
                    add_decoded(telemetry)
                    n_telemetry += 1
                elif channel is _EVENT:
                    event = decode_event(device, payload, received)
                    seen[device.id] = received
                    add_decoded(event)
                    n_events += 1
                else:
                    availability = decode_availability(device.id, payload, received)
                    if seen:  # in message order: heard, then said offline, is offline
                        registry.heard_all(seen)
                        seen.clear()
                    registry.set_online(device.id, availability.online, received)
                    add_decoded(availability)
                    n_availability += 1
            except DecodeError as exc:
                self._quarantine.add(received, topic, exc.reason, exc.detail, payload, device.id)
                continue
        if seen:
            registry.heard_all(seen)
        messages = self.stats.messages
        messages["telemetry"] += n_telemetry
        messages["event"] += n_events
        messages["availability"] += n_availability
        if self._vendor_inbox:
            self._ingest_vendor(readings, decoded)
        self.stats.readings += len(readings)
        self.apply(self._evaluate(decoded, now))
        return readings

    def _evaluate(self, decoded: list[DeviceMessage], now: float) -> list[Decision]:
        engine = self._engine
        decisions: list[Decision] = []
        started = time.perf_counter()
        for message in decoded:
            if type(message) is Telemetry:
                decisions += engine.on_telemetry(message, now)
            elif type(message) is DeviceEvent:
                decisions += engine.on_event(message, now)
            else:
                assert isinstance(message, Availability)
                decisions += engine.on_availability(message, now)
        self.stats.rule_seconds += time.perf_counter() - started
        self.stats.rule_evaluations += len(decoded)
        return decisions

    def apply(self, decisions: list[Decision]) -> None:
        if decisions:
            self._alerts.apply(decisions)

    def _ingest_vendor(self, readings: list[ReadingTuple], decoded: list[DeviceMessage]
                       ) -> None:
        inbox, self._vendor_inbox = self._vendor_inbox, []
        vendor, registry, quarantine = self.vendor, self._registry, self._quarantine
        counts = self.stats.messages
        for topic, payload, received in vendor.settle(inbox):
            try:
                result = vendor.decode(topic, payload, received)
            except DecodeError as exc:
                device_id = exc.device_id if isinstance(exc, VendorDecodeError) else None
                quarantine.add(received, topic, exc.reason, exc.detail, payload, device_id)
                continue
            except Exception:
                # An adapter bug must not cost the batch's other messages (a smoke alarm).
                logger.exception("vendor adapter failed on %s", topic)
                quarantine.add(received, topic, Reason.ADAPTER_FAILED,
                               "the adapter failed on this message; see the hub log", payload)
                continue
            for problem in result.problems:
                quarantine.add(received, topic, problem.reason, problem.detail, payload,
                               result.device_id, partial=True)
            for message in result.messages:
                if type(message) is Telemetry:
                    ts, device_id = message.ts, message.device_id
                    for metric, value in message.values:
                        readings.append((device_id, metric, ts, value))
                    registry.heard(device_id, received)
                    counts[Channel.TELEMETRY.value] += 1
                elif type(message) is DeviceEvent:
                    registry.heard(message.device_id, received)
                    counts[Channel.EVENT.value] += 1
                else:
                    assert isinstance(message, Availability)
                    registry.set_online(message.device_id, message.online, received)
                    counts[Channel.AVAILABILITY.value] += 1
                decoded.append(message)

    def _route(self, topic: str, payload: bytes, received: float
               ) -> tuple[DeviceInfo, Channel] | None:
        key = parse_device_topic(topic)
        if key is None:
            if self.vendor.claims(topic):
                self._vendor_inbox.append((topic, payload, received))
                return None
            self._quarantine.add(received, topic, Reason.BAD_TOPIC,
                                 "not shouwang/<site>/dev/<device>/<telemetry|event|"
                                 "availability>, nor a Zigbee2MQTT, Frigate or Tasmota topic",
                                 payload)
            return None
        if key.site != self._site.id:
            self._quarantine.add(received, topic, Reason.WRONG_SITE,
                                 f"site {key.site!r} is not this hub's {self._site.id!r}",
                                 payload)
            return None
        device = self._site.devices.get(key.device_id)
        if device is None:
            self._quarantine.add(received, topic, Reason.UNKNOWN_DEVICE,
                                 f"device {key.device_id!r} is not in site {self._site.id!r}",
                                 payload, key.device_id)
            return None
        if len(self._topics) < _TOPIC_CACHE_LIMIT:
            self._topics[topic] = (device, key.channel)
        return device, key.channel
