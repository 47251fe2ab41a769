"""Decode canonical device payloads into `Telemetry`, `DeviceEvent` and `Availability`.

Hand-written rather than a pydantic model per message: the metrics a payload may carry depend
on the device kind, and this runs for every message (tens of thousands a second), so the
checks are plain dict look-ups against the catalog. Every rejection names its reason.

A safety rule shapes the partial cases: one bad field does not throw away the good ones
beside it (a smoke alarm must not be lost because the same payload carried a malformed
battery level). The bad fields are reported as `FieldProblem`s and quarantined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import orjson

from devices.catalog import CATALOG, ValueType
from devices.messages import Availability, DeviceEvent, Telemetry
from devices.site import DeviceInfo

MAX_PAYLOAD_BYTES = 16 * 1024
MAX_CLOCK_SKEW_S = 300.0
"""A timestamp further in the future than this is a broken device clock, not a reading."""
EARLIEST_TS = 946_684_800.0  # 2000-01-01: before this the device clock was never set


class Reason(StrEnum):
    OVERSIZE = "oversize"
    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    BAD_TOPIC = "bad_topic"
    WRONG_SITE = "wrong_site"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_METRIC = "unknown_metric"
    UNKNOWN_EVENT = "unknown_event"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    NO_METRICS = "no_metrics"
    BAD_AVAILABILITY = "bad_availability"
    UNMAPPED_VENDOR_DEVICE = "unmapped_vendor_device"
    """A Zigbee2MQTT / Frigate / Tasmota device that no site device maps (`vendor:`)."""
    ADAPTER_FAILED = "adapter_failed"
    """A vendor adapter raised unexpectedly: a bug, logged with its traceback."""


class DecodeError(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class FieldProblem:
    reason: Reason
    detail: str


def json_object(payload: bytes, limit: int = MAX_PAYLOAD_BYTES) -> dict[str, object]:
    """The payload as a JSON object (the canonical topics and the vendor adapters alike)."""
    if len(payload) > limit:
        raise DecodeError(Reason.OVERSIZE, f"{len(payload)} bytes > {limit}")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(Reason.MALFORMED_JSON, str(exc)) from None
    if not isinstance(data, dict):
        raise DecodeError(Reason.NOT_AN_OBJECT,
                          f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_ts(raw: object, received: float) -> float:
    """Epoch seconds (int/float; milliseconds accepted when obviously ms) or ISO 8601."""
    if raw is None:
        return received
    if isinstance(raw, bool):
        raise DecodeError(Reason.BAD_TIMESTAMP, f"ts must be a number or ISO 8601, not {raw!r}")
    if isinstance(raw, int | float):
        ts = float(raw)
        if not math.isfinite(ts):
            raise DecodeError(Reason.BAD_TIMESTAMP, f"ts is {raw!r}")
        if ts > 1e11:  # 1e11 s is the year 5138; such values are milliseconds
            ts /= 1000.0
    elif isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise DecodeError(Reason.BAD_TIMESTAMP, f"ts {raw[:40]!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise DecodeError(Reason.BAD_TIMESTAMP, f"ts {raw[:40]!r} has no UTC offset")
        ts = parsed.timestamp()
    else:
        raise DecodeError(Reason.BAD_TIMESTAMP, "ts must be a number or ISO 8601 string")
    if ts > received + MAX_CLOCK_SKEW_S:
        raise DecodeError(Reason.FUTURE_TIMESTAMP,
                          f"ts is {ts - received:.0f} s ahead of the hub clock")
    if ts < EARLIEST_TS:
        raise DecodeError(Reason.BAD_TIMESTAMP, f"ts {ts:.0f} is before 2000: device clock unset")
    return ts


# Per kind and metric: (is it true/false, lowest, highest) — looked up once per field on the
# hot path instead of walking MetricSpec attributes and enum members for every message.
_LIMITS: dict[str, dict[str, tuple[bool, float, float]]] = {
    kind.name: {m.name: (m.type is ValueType.BOOL,
                         -math.inf if m.low is None else m.low,
                         math.inf if m.high is None else m.high)
                for m in kind.metrics.values()}
    for kind in CATALOG.values()
}


def decode_telemetry(
    device: DeviceInfo, payload: bytes, received: float
) -> tuple[Telemetry, list[FieldProblem]]:
    """Raises DecodeError when nothing usable is in the payload."""
    data = json_object(payload)
    raw_ts = data.pop("ts", None)
    if (type(raw_ts) is float or type(raw_ts) is int) and (
            EARLIEST_TS <= raw_ts <= received + MAX_CLOCK_SKEW_S):
        ts = float(raw_ts)
    else:
        ts = parse_ts(raw_ts, received)
    limits = _LIMITS[device.kind.name]
    values: list[tuple[str, float]] = []
    problems: list[FieldProblem] = []
    for name, raw in data.items():
        limit = limits.get(name)
        if limit is not None:
            is_bool, low, high = limit
            t = type(raw)
            if is_bool:
                if t is bool:
                    values.append((name, 1.0 if raw else 0.0))
                    continue
            elif (t is float or t is int) and low <= raw <= high:  # type: ignore[operator]
                values.append((name, float(raw)))  # type: ignore[arg-type]
                continue
        problems.append(_field_problem(device, name, raw))
    if not values:
        if problems:
            first = problems[0]
            raise DecodeError(first.reason, "; ".join(p.detail for p in problems))
        raise DecodeError(Reason.NO_METRICS, "telemetry carries no metric")
    return Telemetry(device.id, ts, tuple(values)), problems


def _field_problem(device: DeviceInfo, name: str, raw: object) -> FieldProblem:
    """Why a field was not taken (the slow path: only bad fields come here)."""
    metrics = device.kind.metrics
    spec = metrics.get(name)
    if spec is None:
        return FieldProblem(Reason.UNKNOWN_METRIC,
                            f"{device.kind.name} has no metric {name!r} "
                            f"(has: {', '.join(metrics)})")
    if spec.type is ValueType.BOOL:
        return FieldProblem(Reason.WRONG_TYPE, f"{name} must be true/false, got {_show(raw)}")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return FieldProblem(Reason.WRONG_TYPE, f"{name} must be a number, got {_show(raw)}")
    value = float(raw)
    if not math.isfinite(value):
        return FieldProblem(Reason.NOT_FINITE, f"{name} is {raw!r}")
    low = "" if spec.low is None else f"{spec.low:g}"
    high = "" if spec.high is None else f"{spec.high:g}"
    return FieldProblem(Reason.OUT_OF_RANGE,
                        f"{name}={value:g} {spec.unit} outside {low}..{high}")


def decode_event(device: DeviceInfo, payload: bytes, received: float) -> DeviceEvent:
    data = json_object(payload)
    ts = parse_ts(data.get("ts"), received)
    kind = data.get("type")
    if not isinstance(kind, str):
        raise DecodeError(Reason.WRONG_TYPE, f"event type must be a string, got {_show(kind)}")
    if kind not in device.kind.events:
        known = ", ".join(sorted(device.kind.events)) or "none"
        raise DecodeError(Reason.UNKNOWN_EVENT,
                          f"{device.kind.name} has no event {kind!r} (has: {known})")
    return DeviceEvent(device.id, ts, kind)


_STATES = {"online": True, "offline": False}


def decode_availability(device_id: str, payload: bytes, received: float) -> Availability:
    """Plain `online` / `offline`, or JSON `{"state": "online"}` (Zigbee2MQTT's newer form)."""
    text = payload.strip().lower()
    if text.startswith(b"{"):
        data = json_object(payload)
        state = data.get("state")
        text = state.lower().encode() if isinstance(state, str) else b""
    online = _STATES.get(text.decode("utf-8", "replace"))
    if online is None:
        raise DecodeError(Reason.BAD_AVAILABILITY,
                          f"expected online/offline, got {payload[:40]!r}")
    return Availability(device_id, received, online)


def _show(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."
