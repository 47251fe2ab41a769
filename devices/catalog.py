"""The device catalog: what each kind of device reports, in which unit, and how often.

The catalog is the single source of truth for validating payloads (a metric a kind does not
have is rejected), for storage (every value is a float; booleans are 0.0 / 1.0) and for the
offline rules (a device is late after its report interval).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ValueType(Enum):
    BOOL = "bool"
    NUMBER = "number"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    unit: str
    type: ValueType
    low: float | None = None
    high: float | None = None
    """Physically possible range; a value outside it is a faulty sensor, not a hazard."""


@dataclass(frozen=True, slots=True)
class DeviceKind:
    name: str
    label_zh: str
    metrics: dict[str, MetricSpec]
    events: frozenset[str]
    report_interval_s: float


def _bool(name: str) -> MetricSpec:
    return MetricSpec(name, "", ValueType.BOOL)


def _num(name: str, unit: str, low: float | None = None, high: float | None = None) -> MetricSpec:
    return MetricSpec(name, unit, ValueType.NUMBER, low, high)


_BATTERY = _num("battery", "%", 0, 100)
_TEMPERATURE = _num("temperature", "°C", -60, 1200)
_HEART_RATE = _num("heart_rate", "bpm", 0, 300)

_MIN = 60.0
_HOUR = 3600.0


def _kind(
    name: str,
    label_zh: str,
    metrics: tuple[MetricSpec, ...],
    events: tuple[str, ...],
    report_interval_s: float,
) -> DeviceKind:
    return DeviceKind(name, label_zh, {m.name: m for m in metrics}, frozenset(events),
                      report_interval_s)


CATALOG: dict[str, DeviceKind] = {
    k.name: k
    for k in (
        _kind("smoke_detector", "烟感",
              (_bool("smoke"), _num("smoke_density", "%obs/m", 0, 100), _BATTERY),
              ("tamper", "test"), 60 * _MIN),
        _kind("heat_detector", "温感", (_TEMPERATURE,), (), 10 * _MIN),
        _kind("gas_detector", "燃气探测器",
              (_num("gas_lel", "%LEL", 0, 100), _num("co_ppm", "ppm", 0, 10_000)), (), 10 * _MIN),
        _kind("water_leak", "水浸传感器", (_bool("water_leak"), _BATTERY), (), 60 * _MIN),
        _kind("water_level", "水位计", (_num("water_level_cm", "cm", -100, 10_000),), (), _MIN),
        _kind("door_contact", "门磁", (_bool("contact"), _BATTERY), (), 60 * _MIN),
        _kind("motion_sensor", "人体感应", (_bool("occupancy"), _BATTERY), (), 60 * _MIN),
        _kind("temp_humidity", "温湿度计",
              (_TEMPERATURE, _num("humidity", "%RH", 0, 100), _BATTERY), (), 5 * _MIN),
        _kind("sos_button", "紧急呼叫按钮", (_BATTERY,), ("sos",), 24 * _HOUR),
        _kind("fall_detector", "跌倒检测雷达", (_bool("presence"),), ("fall",), 10 * _MIN),
        _kind("bed_sensor", "离床感应垫",
              (_bool("in_bed"), _HEART_RATE, _num("breathing_rate", "rpm", 0, 80)), (), 5 * _MIN),
        _kind("wearable", "智能手环",
              (_HEART_RATE, _num("spo2", "%", 0, 100), _BATTERY), ("fall", "sos"), 5 * _MIN),
        _kind("fire_pump", "消防泵",
              (_num("pressure_mpa", "MPa", 0, 10), _bool("running")), (), _MIN),
        _kind("water_tank", "消防水箱", (_num("level_pct", "%", 0, 100),), (), 5 * _MIN),
        _kind("elevator", "电梯",
              (_bool("running"), _bool("door_open")), ("entrapment",), _MIN),
        _kind("tilt_sensor", "倾角传感器",
              (_num("tilt_deg", "°", -90, 90), _num("vibration_g", "g", 0, 50)), (), 10 * _MIN),
        _kind("power_meter", "电表",
              (_num("voltage_v", "V", 0, 1000), _num("power_kw", "kW", 0, 10_000),
               _bool("on_mains")), (), _MIN),
        _kind("camera", "摄像机",
              (_bool("recording"), _num("fps", "fps", 0, 240)),
              ("tamper", "intrusion", "video_loss"), _MIN),
        _kind("nvr", "硬盘录像机",
              (_bool("disk_ok"), _num("recording_channels", "", 0, 1024)),
              ("disk_failure",), 5 * _MIN),
    )
}
