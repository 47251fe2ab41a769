"""Tasmota: `tele/<topic>/SENSOR` readings and `tele/<topic>/LWT` availability.

Topics (the part after `tele/`):
    <topic>/SENSOR   JSON every TelePeriod: `Time`, one object per sensor, `TempUnit`
    <topic>/LWT      `Online` / `Offline`, retained (the MQTT last will)
    <topic>/STATE, INFO1..3, RESULT ...   skipped: nothing in them is a catalog metric

Mapping decisions:
- Any sensor object with `Temperature` / `Humidity` (AM2301, DS18B20, BME280, SI7021 ...)
  gives `temperature` / `humidity`; `TempUnit: "F"` is converted to °C. When several sensors
  report the same quantity, the first in the payload is kept and the others are reported as
  partial problems: a site device is one place, so map one Tasmota device per sensor.
- `ENERGY.Voltage` → `voltage_v`; `ENERGY.Power` (W) → `power_kw`. Multi-channel meters send
  lists there; they are reported, not guessed at (which phase is "the" voltage?).
- Only metrics the device's kind has are taken; a SENSOR report with none of them is rejected
  (`no_metrics`: the device is mapped to the wrong kind).
- `Time` is the device's local time without an offset (unless SetOption52 adds one); it is read
  in the site's time zone. A clock that is unset (1970) or ahead of the hub is replaced by the
  receive time and reported as a partial problem: the reading is kept.
- The catalog's power-meter interval is one minute; Tasmota's default TelePeriod is 300 s, so
  set `TelePeriod 60` on meters or the offline rule will (rightly) call them late.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson

from devices.adapters.wire import (
    Decoded,
    about_device,
    device_clock,
    metric_value,
    no_problems_or_raise,
    show,
    skipped,
    unmapped,
)
from devices.codec import DecodeError, FieldProblem, Reason, decode_availability, json_object
from devices.messages import Telemetry
from devices.site import DeviceInfo

_CLIMATE = (("Temperature", "temperature"), ("Humidity", "humidity"))
_ENERGY = (("Voltage", "voltage_v", 1.0), ("Power", "power_kw", 0.001))


class TasmotaAdapter:
    def __init__(self, devices: Mapping[str, DeviceInfo], zone: ZoneInfo) -> None:
        """`devices`: site devices by Tasmota topic; `zone`: the site's, for `Time`."""
        self._devices = dict(devices)
        self._zone = zone

    @staticmethod
    def is_state_topic(rest: str) -> bool:
        return rest.endswith("/LWT")

    def decode(self, rest: str, payload: bytes, received: float) -> Decoded:
        """`rest`: the topic after `tele/`."""
        topic, _, suffix = rest.rpartition("/")
        if not topic or "/" in topic:
            return skipped("other")
        if suffix not in ("SENSOR", "LWT"):
            return skipped("state" if suffix == "STATE" else "other")
        device = self._devices.get(topic)
        if device is None:
            raise unmapped(f"Tasmota device {topic!r}", f"{{format: tasmota, name: {topic}}}")
        with about_device(device.id):
            if suffix == "LWT":
                return Decoded(device.id, (decode_availability(device.id, payload, received),))
            return self._sensor(device, payload, received)

    def _sensor(self, device: DeviceInfo, payload: bytes, received: float) -> Decoded:
        data = json_object(payload)
        ts, problems = self._time(data.get("Time"), received)
        metrics = device.kind.metrics
        celsius = self._celsius(data.get("TempUnit", "C"), problems)
        values: dict[str, float] = {}
        source: dict[str, str] = {}

        def take(metric: str, raw: object, label: str, scale: float, offset: float) -> None:
            if metric not in metrics:
                return
            if metric in values:
                problems.append(FieldProblem(
                    Reason.UNKNOWN_METRIC, f"{label}: {metric} already comes from "
                    f"{source[metric]}; map one Tasmota device per sensor"))
                return
            checked = metric_value(metrics[metric], raw, label, scale, offset)
            if isinstance(checked, FieldProblem):
                problems.append(checked)
            else:
                values[metric] = round(checked, 3)
                source[metric] = label

        for sensor, reading in data.items():
            if not isinstance(reading, dict):
                continue
            if sensor == "ENERGY":
                for key, metric, scale in _ENERGY:
                    if key in reading:
                        take(metric, reading[key], f"ENERGY.{key}", scale, 0.0)
                continue
            for key, metric in _CLIMATE:
                if key not in reading:
                    continue
                if metric == "temperature":
                    if celsius is None:
                        continue
                    take(metric, reading[key], f"{sensor}.{key}", *celsius)
                else:
                    take(metric, reading[key], f"{sensor}.{key}", 1.0, 0.0)
        if values:
            return Decoded(device.id, (Telemetry(device.id, ts, tuple(values.items())),),
                           tuple(problems))
        no_problems_or_raise(problems)
        sensors = [k for k, v in data.items() if isinstance(v, dict)] or ["none"]
        raise DecodeError(Reason.NO_METRICS,
                          f"no reading a {device.kind.name} has (sensors: {', '.join(sensors)})")

    def _time(self, raw: object, received: float) -> tuple[float, list[FieldProblem]]:
        if raw is None:
            return received, []
        if not isinstance(raw, str):
            return received, [FieldProblem(Reason.BAD_TIMESTAMP, f"Time must be a string, got "
                                           f"{show(raw)}; the hub's receive time was used")]
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return received, [FieldProblem(Reason.BAD_TIMESTAMP, f"Time {raw[:40]!r} is not "
                                           "ISO 8601; the hub's receive time was used")]
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self._zone)
        ts, problem = device_clock(parsed.timestamp(), received, f"Time {raw[:40]!r}")
        return ts, [] if problem is None else [problem]

    @staticmethod
    def _celsius(unit: object, problems: list[FieldProblem]) -> tuple[float, float] | None:
        """(scale, offset) from the device's temperature unit to °C; None if unknown."""
        if unit == "C":
            return 1.0, 0.0
        if unit == "F":
            return 5.0 / 9.0, -32.0 * 5.0 / 9.0
        problems.append(FieldProblem(Reason.WRONG_TYPE,
                                     f"TempUnit must be C or F, got {show(unit)}"))
        return None


def encode_sensor(values: Mapping[str, float | bool], now: float, zone: ZoneInfo, *,
                  sensor: str = "AM2301") -> bytes:
    """A `tele/<topic>/SENSOR` report of the mapped `values`, in °C and W (simulators)."""
    report: dict[str, object] = {
        "Time": datetime.fromtimestamp(now, zone).strftime("%Y-%m-%dT%H:%M:%S")}
    climate = {key: values[metric] for key, metric in _CLIMATE if metric in values}
    if climate:
        report[sensor] = climate
    energy = {key: round(float(values[metric]) / scale, 1)
              for key, metric, scale in _ENERGY if metric in values}
    if energy:
        report["ENERGY"] = energy
    if climate:
        report["TempUnit"] = "C"
    return orjson.dumps(report)


def encode_lwt(online: bool) -> bytes:
    return b"Online" if online else b"Offline"
