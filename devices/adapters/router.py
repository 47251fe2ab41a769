"""One entry point for every vendor topic: which adapter reads it, and batch settling."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol
from zoneinfo import ZoneInfo

from devices.adapters.frigate import FrigateAdapter
from devices.adapters.tasmota import TasmotaAdapter
from devices.adapters.topics import BASES
from devices.adapters.wire import Decoded
from devices.adapters.zigbee2mqtt import Zigbee2MqttAdapter
from devices.codec import DecodeError, Reason
from devices.site import DeviceInfo, Site, VendorFormat

VendorMessage = tuple[str, bytes, float]
"""(topic, payload, time received), as the hub's MQTT link hands them over."""


class VendorAdapter(Protocol):
    def decode(self, rest: str, payload: bytes, received: float) -> Decoded:
        """`rest`: the topic after the vendor's base level."""
        ...

    def is_state_topic(self, rest: str) -> bool:
        """Whether the topic carries a state (each message replaces the last), not an event."""
        ...


class VendorRouter:
    """Decodes Zigbee2MQTT, Frigate and Tasmota topics into canonical device messages.

    Pure (no I/O, time passed in) but not stateless: Zigbee2MQTT tamper levels, the Frigate
    objects already raised and each camera's stream roles are remembered between messages.
    """

    def __init__(self, site: Site) -> None:
        names: dict[VendorFormat, dict[str, DeviceInfo]] = {f: {} for f in VendorFormat}
        for device in site.devices.values():
            if device.vendor is not None:
                names[device.vendor.format][device.vendor.name] = device
        self.zigbee2mqtt = Zigbee2MqttAdapter(names[VendorFormat.ZIGBEE2MQTT])
        self.frigate = FrigateAdapter(names[VendorFormat.FRIGATE])
        self.tasmota = TasmotaAdapter(names[VendorFormat.TASMOTA], ZoneInfo(site.timezone))
        self._adapters: dict[VendorFormat, VendorAdapter] = {
            VendorFormat.ZIGBEE2MQTT: self.zigbee2mqtt,
            VendorFormat.FRIGATE: self.frigate,
            VendorFormat.TASMOTA: self.tasmota,
        }
        self.ignored: Counter[str] = Counter()
        """Known topics deliberately skipped, by why (`zigbee2mqtt.bridge` ...)."""
        self.superseded = 0
        """State messages (availability, LWT, stream status) replaced later in their batch."""

    @staticmethod
    def claims(topic: str) -> bool:
        """Whether the topic is under a vendor's base topic (cheap: one split, one look-up)."""
        return topic.partition("/")[0] in BASES

    def decode(self, topic: str, payload: bytes, received: float) -> Decoded:
        """Decode one message. Raises DecodeError (VendorDecodeError when the device is known)."""
        base, _, rest = topic.partition("/")
        fmt = BASES.get(base)
        if fmt is None or not rest:
            raise DecodeError(Reason.BAD_TOPIC, "not a Zigbee2MQTT, Frigate or Tasmota topic")
        decoded = self._adapters[fmt].decode(rest, payload, received)
        if decoded.ignored is not None:
            self.ignored[f"{fmt.value}.{decoded.ignored}"] += 1
        return decoded

    def settle(self, batch: Sequence[VendorMessage]) -> Sequence[VendorMessage]:
        """The messages of a batch that still count: on a state topic only its last one does.

        Availability, LWT and Frigate stream-status topics carry a state, not an event; when a
        topic flips and flips back within one batch (a stream restarting, a device
        reconnecting), the earlier states are already stale and would only raise a false
        `offline`. Other messages are all kept, in order.
        """
        last: dict[str, int] = {}
        for index, (topic, _, _) in enumerate(batch):
            if self._is_state_topic(topic):
                last[topic] = index
        state_messages = sum(1 for topic, _, _ in batch if topic in last)
        if state_messages == len(last):
            return batch
        kept = [m for index, m in enumerate(batch) if last.get(m[0], index) == index]
        self.superseded += len(batch) - len(kept)
        return kept

    def _is_state_topic(self, topic: str) -> bool:
        base, _, rest = topic.partition("/")
        fmt = BASES.get(base)
        return fmt is not None and self._adapters[fmt].is_state_topic(rest)
