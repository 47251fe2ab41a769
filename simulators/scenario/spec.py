"""The scenario file, as written: pydantic models with `extra="forbid"`.

    name: kitchen-fire
    title: 1号楼101室厨房起火
    site: sites/heyuan.yaml        # relative to this file
    speed: 120                     # simulated seconds per real second (hub clock: simulated)
    start: "10:00"                 # site-local time of day, or ISO 8601 with offset; optional
    drill: true                    # or a drill name
    background: {interval_scale: 0.25, routines: true, seed: 1}
    timeline:
      - at: 30s
        fire: {unit: b1/f1/101, for: 5m}
    expect:
      - alert: {rule: fire_confirmed, place: b1/f1}
        after: fire
        within: 2m
        delivered_to: [duty]
        exercise: true
        resolved_within: 3m
      - no_alert: {category: gas}

Times are simulated seconds: `30s`, `2m`, `1.5h` or a number.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

_PART = r"(\d+(?:\.\d+)?)\s*(ms|min|s|m|h|d)"
_DURATION = re.compile(rf"^\s*(?:{_PART}\s*)+$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def duration(value: object) -> float:
    """`30s`, `10m`, `1.5h`, `1h30m`, `2d` or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value):
        seconds = sum(float(n) * _UNIT_S[unit] for n, unit in re.findall(_PART, value))
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+(?:\.\d+)?\s*", value):
        seconds = float(value)
    else:
        raise ValueError(f"{value!r} is not a duration (write e.g. 30s, 10m, 1h30m)")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def show_duration(seconds: float) -> str:
    """`45s`, `2m`, `1h30m`, `1.5s` — the way a scenario would write it."""
    if seconds < 60:
        return f"{round(seconds, 1):g}s"
    if seconds < 3600:
        m, s = divmod(round(seconds), 60)
        return f"{m}m{s}s" if s else f"{m}m"
    h, rest = divmod(round(seconds), 3600)
    m = rest // 60
    return f"{h}h{m}m" if m else f"{h}h"


Seconds = Annotated[float, BeforeValidator(duration)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Lasting(_Spec):
    lasts: Seconds | None = Field(None, alias="for")
    """How long the hazard lasts; then it ends (and alerts may resolve). None: to the end."""


# ---------------------------------------------------------------- happenings


class FireSpec(_Lasting):
    """Smoke in a home, then its heat detectors' temperature rising; smoke may spread."""

    unit: str
    heat_after: Seconds = 20.0
    rise_per_min: float = Field(15.0, gt=0, le=200)
    """°C a minute (EN 54-5 class A1R detectors alarm at 8 °C/min)."""
    peak: float = Field(95.0, gt=30, le=1200)
    spread_to: list[str] = []
    """Neighbouring units (or floors) whose smoke detectors go off later."""
    spread_after: Seconds = 60.0
    every: Seconds = Field(10.0, description="how often detectors report during the fire")


class GasLeakSpec(_Lasting):
    unit: str
    lel: float = Field(35.0, gt=0, le=100)
    """The peak, %LEL (household alarms are set at 20)."""
    co_ppm: float | None = Field(None, ge=0, le=10_000)
    rise: Seconds = 60.0
    """Time to reach the peak."""
    every: Seconds = 10.0


class FloodSpec(_Lasting):
    """Water rising at a building's gauges, its leak sensors wet, its fire-water tank falling
    (a burst pipe)."""

    building: str
    level_cm: float = Field(30.0, gt=0, le=10_000)
    """Standing water the gauges of the building's grid reach."""
    gauges: list[str] | None = None
    """Water-level devices; default: every gauge of the building's grid."""
    tank_fall_per_min: float = Field(8.0, ge=0, le=100)
    """%/min; 0 leaves the tank alone."""
    leaks: list[str] = []
    """Places (units, floors) or devices whose leak sensors get wet."""
    rise: Seconds = 120.0
    every: Seconds = 10.0


class ResidentRef(_Lasting):
    """A resident in the care programme, by resident id or by their unit."""

    resident: str | None = None
    unit: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ResidentRef:
        if (self.resident is None) == (self.unit is None):
            raise ValueError("give exactly one of `resident` (an id from the site's "
                             "residents) or `unit` (their home, e.g. b1/f3/302)")
        return self


class FallSpec(ResidentRef):
    where: Literal["home", "bathroom"] = "home"
    """In the bathroom the bathroom sensor keeps seeing someone there."""


class SosSpec(_Spec):
    unit: str | None = None
    device: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SosSpec:
        if (self.unit is None) == (self.device is None):
            raise ValueError("give exactly one of `unit` or `device`")
        return self


class CameraCutSpec(_Lasting):
    device: str
    mode: Literal["offline", "silent"] = "offline"
    """`offline`: it says so (its will, its NVR); `silent`: it just stops reporting."""


class DeviceRef(_Spec):
    device: str


class PowerCutSpec(_Lasting):
    building: str
    cameras: Literal["offline", "silent"] = "offline"


class EntrapmentSpec(_Lasting):
    building: str | None = None
    device: str | None = None

    @model_validator(mode="after")
    def _one(self) -> EntrapmentSpec:
        if (self.building is None) == (self.device is None):
            raise ValueError("give exactly one of `building` or `device` (an elevator)")
        return self


class EventSpec(_Spec):
    device: str
    type: str
    count: int = Field(1, ge=1, le=1000)
    every: Seconds = 30.0


class ValuesSpec(_Lasting):
    device: str
    set: dict[str, float | bool] = Field(min_length=1)


class BrokerRestartSpec(_Spec):
    command: str | None = None
    """Run (no shell) to restart the broker, e.g. `systemctl restart mosquitto`; the runner's
    --broker-restart overrides it. Without either the step is skipped, and so are the
    expectations `after` it."""


class AlertMatchSpec(_Spec):
    rule: str | None = None
    category: str | None = None
    place: str | None = None
    """The alert is about this place or a place inside it (`b1` matches `b1/f3/302`)."""
    device: str | None = None
    severity: Literal["info", "minor", "major", "critical"] | None = None
    """At least this severity: an alert that escalates to it later counts once it has."""

    @model_validator(mode="after")
    def _something(self) -> AlertMatchSpec:
        if self.rule is None and self.category is None:
            raise ValueError("name a `rule` or a `category` (fire, gas, flood, elderly_care, "
                             "security, equipment, power)")
        return self


class OperatorSpec(AlertMatchSpec):
    """A person on duty acknowledging or clearing the alerts that match."""

    by: str = Field("scenario", min_length=1, max_length=100)
    note: str | None = None


HAPPENINGS = ("fire", "gas_leak", "flood", "fall", "inactive", "stays_in_bed", "sos",
              "camera_cut", "tamper", "power_cut", "entrapment", "event", "values",
              "broker_restart", "acknowledge", "clear")


class StepSpec(_Spec):
    at: Seconds
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")] | None = None
    """How expectations refer to this step (`after: <id>`); default: the happening's name
    when it occurs once."""
    fire: FireSpec | None = None
    gas_leak: GasLeakSpec | None = None
    flood: FloodSpec | None = None
    fall: FallSpec | None = None
    inactive: ResidentRef | None = None
    """The resident stops moving (no fall detected): nothing stirs at home."""
    stays_in_bed: ResidentRef | None = None
    sos: SosSpec | None = None
    camera_cut: CameraCutSpec | None = None
    tamper: DeviceRef | None = None
    power_cut: PowerCutSpec | None = None
    entrapment: EntrapmentSpec | None = None
    event: EventSpec | None = None
    values: ValuesSpec | None = None
    broker_restart: BrokerRestartSpec | None = None
    acknowledge: OperatorSpec | None = None
    clear: OperatorSpec | None = None

    @model_validator(mode="after")
    def _one_happening(self) -> StepSpec:
        given = [name for name in HAPPENINGS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a step has `at` and exactly one happening ({', '.join(HAPPENINGS)})"
                             f"; this one has {', '.join(given) or 'none'}")
        return self

    @property
    def happening(self) -> str:
        return next(name for name in HAPPENINGS if getattr(self, name) is not None)


class ExpectSpec(_Spec):
    alert: AlertMatchSpec | None = None
    no_alert: AlertMatchSpec | None = None
    after: str | None = None
    """A step id: time is counted from when it happened (default: the scenario start)."""
    within: Seconds | None = None
    """alert: the deadline (required); no_alert: how long to watch (default: to the end)."""
    delivered_to: list[str] = []
    """Receivers (names in the hub's `delivery:`) that must have sent the alert."""
    exercise: bool | None = None
    """The alert is (not) an exercise: its `exercise` flag and its CAP status."""
    resolved_within: Seconds | None = None
    """The alert clears within this long after the `after` step's hazard ends."""
    name: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> ExpectSpec:
        if (self.alert is None) == (self.no_alert is None):
            raise ValueError("an expectation is either `alert: {...}` or `no_alert: {...}`")
        if self.alert is not None and self.within is None:
            raise ValueError("an `alert` expectation needs `within` (e.g. within: 2m)")
        if self.no_alert is not None and (self.delivered_to or self.exercise is not None
                                          or self.resolved_within is not None):
            raise ValueError("`delivered_to`, `exercise` and `resolved_within` belong to an "
                             "`alert` expectation")
        return self


class BackgroundSpec(_Spec):
    interval_scale: float = Field(1.0, gt=0, le=100)
    """Multiply every device's report interval (0.25: four times as often as in life)."""
    routines: bool = True
    """Residents in the care programme live their daily routines."""
    seed: int = 1


class ScenarioSpec(_Spec):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
    title: str | None = None
    description: str | None = None
    site: str
    speed: float = Field(1.0, gt=0, le=100_000)
    start: str | None = None
    drill: bool | str = False
    duration: Seconds | None = None
    """Run at least this long (simulated); default: until every expectation is decided."""
    background: BackgroundSpec = BackgroundSpec()
    timeline: list[StepSpec] = []
    expect: list[ExpectSpec] = Field(min_length=1)

    @field_validator("start")
    @classmethod
    def _start(cls, value: str | None) -> str | None:
        if value is not None:
            parse_start(value)
        return value


def parse_start(value: str) -> time | float:
    """A site-local time of day (`06:30`, `06:30:00`), or an instant (ISO 8601 with offset)."""
    try:
        return time.fromisoformat(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"start {value!r}: give a time of day (06:30) or ISO 8601 with an "
                         "offset (2026-11-27T06:30:00+08:00)") from None
    if moment.tzinfo is None:
        raise ValueError(f"start {value!r} has no UTC offset (add +08:00 or Z)")
    return moment.timestamp()
