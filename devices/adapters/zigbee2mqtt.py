"""Zigbee2MQTT: `zigbee2mqtt/<friendly_name>` state and `.../availability`, as site devices.

Topics (the part after `zigbee2mqtt/`):
    <name>                      device state, JSON (all cached attributes, on every report)
    <name>/availability         `{"state": "online"}`, or plain `online` / `offline` (older)
    <name>/set[/...], <name>/get[/...]   commands *to* the device from others: skipped
    <name>/action, <name>/click   legacy Home Assistant trigger copies of `action`: skipped
    bridge/...                  Zigbee2MQTT's own state, logs and responses: skipped

A friendly name may contain `/`, so the topic is matched against the longest configured name
(`b1/f1/101` and `b1/f1/101/smoke` are two devices). A topic that no configured name explains
is an unmapped device and is quarantined (commands excepted: they are not from a device).

State fields, mapped to the catalog metric of the same name when the device's kind has it:
`smoke`, `water_leak`, `contact` (true = closed, as ours), `occupancy`, `battery` (%),
`temperature` (°C), `humidity` (%RH). Other mappings:
- `tamper`: a `tamper` event, for kinds that have one, when it goes false → true. Zigbee2MQTT
  repeats cached attributes in every report, so the level is not an event; the first report
  after a hub start counts as a rise (a tamper still in progress is raised once more).
- `battery_low` is ignored: it is the device's own flag beside the `battery` percentage the
  rules already judge; folding it into a made-up percentage would store a number nobody
  measured.
- `linkquality`, `last_seen` and every attribute the hub does not map (voltage,
  device_temperature, power_outage_count ...) are ignored: Zigbee2MQTT reports what each model
  exposes, and that is not an error. A report with attributes but *none* the device's kind
  maps is rejected (`no_metrics`): that is a device mapped to the wrong kind.
Timestamps are the hub's receive time (`last_seen` is optional and its format configurable).
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from devices.adapters.wire import (
    Decoded,
    about_device,
    metric_value,
    no_problems_or_raise,
    show,
    skipped,
    unmapped,
)
from devices.codec import DecodeError, FieldProblem, Reason, decode_availability, json_object
from devices.messages import DeviceEvent, DeviceMessage, Telemetry
from devices.site import DeviceInfo

MAPPED = ("smoke", "water_leak", "contact", "occupancy", "battery", "temperature", "humidity")
"""Zigbee2MQTT state attributes that are catalog metrics under the same name."""

SILENT = frozenset({"linkquality", "last_seen", "battery_low"})
"""Attributes every device may carry and the hub never maps."""

_COMMANDS = frozenset({"set", "get"})
_LEGACY_ACTIONS = (["action"], ["click"])


class Zigbee2MqttAdapter:
    def __init__(self, devices: Mapping[str, DeviceInfo]) -> None:
        """`devices`: site devices by Zigbee2MQTT friendly name."""
        self._devices = dict(devices)
        self._depth = max((name.count("/") + 1 for name in devices), default=0)
        self._tamper: dict[str, bool] = {}

    @staticmethod
    def is_state_topic(rest: str) -> bool:
        return rest.endswith("/availability")

    def decode(self, rest: str, payload: bytes, received: float) -> Decoded:
        """`rest`: the topic after `zigbee2mqtt/`."""
        if rest == "bridge" or rest.startswith("bridge/"):
            return skipped("bridge")
        levels = rest.split("/")
        device, suffix = self._match(levels)
        if device is not None:
            if not suffix:
                with about_device(device.id):
                    return self._state(device, payload, received)
            if suffix == ["availability"]:
                with about_device(device.id):
                    return Decoded(device.id,
                                   (decode_availability(device.id, payload, received),))
            if suffix[0] in _COMMANDS:
                return skipped("command", device.id)
            if suffix in _LEGACY_ACTIONS:
                return skipped("legacy_action", device.id)
            # Deeper levels under a configured name: another device, which nobody mapped.
        if _COMMANDS.intersection(levels):
            return skipped("command")
        name = "/".join(levels[:-1]) if levels[-1] == "availability" and len(levels) > 1 else rest
        raise unmapped(f"Zigbee2MQTT device {name!r}", f"{{format: zigbee2mqtt, name: {name}}}")

    def _match(self, levels: list[str]) -> tuple[DeviceInfo | None, list[str]]:
        """The longest configured friendly name at the start of `levels`, and what follows."""
        for end in range(min(len(levels), self._depth), 0, -1):
            device = self._devices.get("/".join(levels[:end]))
            if device is not None:
                return device, levels[end:]
        return None, levels

    def _state(self, device: DeviceInfo, payload: bytes, received: float) -> Decoded:
        data = json_object(payload)
        metrics = device.kind.metrics
        values: list[tuple[str, float]] = []
        problems: list[FieldProblem] = []
        for name in MAPPED:
            if name in data and name in metrics:
                checked = metric_value(metrics[name], data[name], name)
                if isinstance(checked, FieldProblem):
                    problems.append(checked)
                else:
                    values.append((name, checked))
        messages: list[DeviceMessage] = []
        if values:
            messages.append(Telemetry(device.id, received, tuple(values)))
        if "tamper" in data and "tamper" in device.kind.events:
            tampered = data["tamper"]
            if tampered is True or tampered is False:
                was = self._tamper.get(device.id, False)
                self._tamper[device.id] = tampered
                if tampered and not was:
                    messages.append(DeviceEvent(device.id, received, "tamper"))
            else:
                problems.append(FieldProblem(
                    Reason.WRONG_TYPE, f"tamper must be true/false, got {show(tampered)}"))
        if messages:
            return Decoded(device.id, tuple(messages), tuple(problems))
        no_problems_or_raise(problems)
        others = [k for k in data if k not in SILENT and k != "tamper"]
        if not others:
            return skipped("no_state", device.id)  # e.g. only linkquality: nothing to say
        maps = ", ".join(n for n in MAPPED if n in metrics) or "none"
        raise DecodeError(Reason.NO_METRICS,
                          f"none of {', '.join(others[:6])} is mapped for a {device.kind.name} "
                          f"(it maps: {maps}); is the device's kind right?")


def encode_state(values: Mapping[str, float | bool], linkquality: int) -> bytes:
    """A Zigbee2MQTT state report of the mapped `values` (simulators)."""
    state: dict[str, object] = {k: v for k, v in values.items() if k in MAPPED or k == "tamper"}
    state["linkquality"] = linkquality
    return orjson.dumps(state)


def encode_availability(online: bool) -> bytes:
    return orjson.dumps({"state": "online" if online else "offline"})
