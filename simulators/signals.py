"""Normal-day signal models per device kind: daily cycles, sensor noise, battery drain.

Each model maps (time, random generator, device phase) to the metrics the catalog names for
the kind. Hazards are not modelled here: scenarios inject them on top.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Values = dict[str, float | bool]
Model = Callable[[float, np.random.Generator, float], Values]

_DAY = 86_400.0


def _daily(t: float, peak_hour: float = 15.0) -> float:
    """-1..1 over the day, highest at `peak_hour` (UTC+8 local time)."""
    local_hour = ((t / 3600.0) + 8.0) % 24.0
    return math.cos((local_hour - peak_hour) / 24.0 * 2 * math.pi)


def _battery(t: float, phase: float) -> float:
    # A coin cell drains over ~2 years; devices start at different charge.
    return round(max(5.0, 100.0 - ((t / _DAY + phase * 700) % 730) / 730 * 95), 1)


def _r(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


MODELS: dict[str, Model] = {
    "smoke_detector": lambda t, g, p: {
        "smoke": False, "smoke_density": _r(abs(g.normal(0.02, 0.01)), 3),
        "battery": _battery(t, p)},
    "heat_detector": lambda t, g, p: {"temperature": _r(23 + 3 * _daily(t) + g.normal(0, 0.3))},
    "gas_detector": lambda t, g, p: {
        "gas_lel": _r(abs(g.normal(0.3, 0.2))), "co_ppm": _r(abs(g.normal(2, 1)), 1)},
    "water_leak": lambda t, g, p: {"water_leak": False, "battery": _battery(t, p)},
    "water_level": lambda t, g, p: {"water_level_cm": _r(abs(g.normal(0.5, 0.3)), 1)},
    "door_contact": lambda t, g, p: {"contact": bool(g.random() > 0.05),
                                     "battery": _battery(t, p)},
    "motion_sensor": lambda t, g, p: {
        "occupancy": bool(g.random() < 0.2 + 0.2 * max(0.0, _daily(t, 10))),
        "battery": _battery(t, p)},
    "temp_humidity": lambda t, g, p: {
        "temperature": _r(22 + 4 * _daily(t) + g.normal(0, 0.3)),
        "humidity": _r(min(100.0, max(0.0, 58 - 10 * _daily(t) + g.normal(0, 1)))),
        "battery": _battery(t, p)},
    "sos_button": lambda t, g, p: {"battery": _battery(t, p)},
    "fall_detector": lambda t, g, p: {"presence": bool(g.random() < 0.6)},
    "bed_sensor": lambda t, g, p: {
        "in_bed": _daily(t, 3) > 0.4, "heart_rate": _r(g.normal(68, 4), 0),
        "breathing_rate": _r(g.normal(15, 1.5), 0)},
    "wearable": lambda t, g, p: {
        "heart_rate": _r(g.normal(74, 6), 0),
        "spo2": _r(min(100.0, g.normal(97.5, 0.8)), 0), "battery": _battery(t, p)},
    "fire_pump": lambda t, g, p: {"pressure_mpa": _r(g.normal(0.62, 0.01), 3),
                                  "running": False},
    "water_tank": lambda t, g, p: {"level_pct": _r(90 + 4 * _daily(t, 4) + g.normal(0, 0.3), 1)},
    "elevator": lambda t, g, p: {"running": bool(g.random() < 0.4),
                                 "door_open": bool(g.random() < 0.1)},
    "tilt_sensor": lambda t, g, p: {"tilt_deg": _r(g.normal(0.1, 0.02), 3),
                                    "vibration_g": _r(abs(g.normal(0.01, 0.005)), 3)},
    "power_meter": lambda t, g, p: {
        "voltage_v": _r(g.normal(228, 2), 1),
        "power_kw": _r(max(0.0, 40 + 25 * _daily(t, 20) + g.normal(0, 3)), 1),
        "on_mains": True},
    "camera": lambda t, g, p: {"recording": True, "fps": _r(g.normal(25, 0.3), 1)},
    "nvr": lambda t, g, p: {"disk_ok": True, "recording_channels": 16.0},
}


def normal_values(kind: str, t: float, rng: np.random.Generator, phase: float) -> Values:
    return MODELS[kind](t, rng, phase)
