"""Daily routines of elderly residents who live alone, as their home's sensors see them.

A resident's habits (when they wake, eat, go out, nap and go to bed) are drawn once; each day
is then drawn from the habits with numpy, deterministically from (seed, resident, date), so a
day comes out the same whatever order days are asked for. A day is a list of `Span`s of what
the resident is doing; spans become sensor intervals and those become readings:

- the bed mat's `in_bed` while asleep or napping;
- the home's motion sensor: `occupancy` true on movement, false 90 s after the last (a PIR),
  in pulses while the resident is up and about, none while asleep or out;
- a bathroom motion sensor (`room: bathroom`): occupied for the whole visit (presence);
- the door contact: `contact` false for the moment the front door stands open.

`Routines` follows every resident of a site through time: `due(now)` gives the readings to
send since the last call. A scenario can `hold` a home in one state from a moment on (a fall
in the bathroom, a resident who stops moving or stays in bed) and `resume` the routine later.
Pure: no I/O, time passed in.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np

from devices.site import Site
from simulators.signals import Values

_H = 3600.0
_M = 60.0
DAY_S = 86_400.0
PIR_HOLD_S = 90.0
"""A PIR sensor reports no occupancy this long after the last movement."""
DOOR_OPEN_S = 20.0


class Activity(StrEnum):
    ASLEEP = "asleep"
    AWAKE = "awake"
    """Up and about at home."""
    MEAL = "meal"
    BATHROOM = "bathroom"
    NAP = "nap"
    OUT = "out"


class Sensor(StrEnum):
    """The role a device plays in a care home."""

    BED = "bed"
    MOTION = "motion"
    BATHROOM = "bathroom"
    DOOR = "door"


@dataclass(frozen=True, slots=True)
class Span:
    start: float
    end: float
    activity: Activity


@dataclass(frozen=True, slots=True)
class Change:
    """A sensor becomes `active` (in bed, occupied, door open) or stops being it."""

    ts: float
    sensor: Sensor
    active: bool


@dataclass(frozen=True, slots=True)
class Habits:
    """Hours are local time."""

    wake_h: float
    bed_h: float
    breakfast_after_wake_h: float
    lunch_h: float
    dinner_h: float
    outing_chance: float
    """A morning trip to the market (买菜)."""
    walk_chance: float
    """An afternoon walk in the community."""
    nap_chance: float
    night_visits: float
    """Mean bathroom visits a night."""
    day_visits: float
    """Mean bathroom visits a day, besides morning and evening."""

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Habits:
        return cls(
            wake_h=float(np.clip(rng.normal(6.3, 0.35), 5.3, 7.3)),
            bed_h=float(np.clip(rng.normal(21.3, 0.4), 20.3, 22.5)),
            breakfast_after_wake_h=float(rng.uniform(0.5, 1.0)),
            lunch_h=float(rng.normal(11.6, 0.15)),
            dinner_h=float(rng.normal(17.6, 0.2)),
            outing_chance=float(rng.uniform(0.4, 0.9)),
            walk_chance=float(rng.uniform(0.2, 0.6)),
            nap_chance=float(rng.uniform(0.3, 0.8)),
            night_visits=float(rng.uniform(0.5, 2.0)),
            day_visits=float(rng.uniform(3.0, 6.0)),
        )


def plan_day(habits: Habits, midnight: float, rng: np.random.Generator) -> list[Span]:
    """What the resident does from `midnight` to the next, as consecutive spans."""
    end_of_day = midnight + DAY_S
    wake = midnight + (habits.wake_h + rng.normal(0, 0.15)) * _H
    bed = midnight + (habits.bed_h + rng.normal(0, 0.2)) * _H

    def minutes(low: float, high: float) -> float:
        return float(rng.uniform(low, high)) * _M

    def hour(h: float) -> float:
        return midnight + h * _H

    blocks: list[tuple[float, float, Activity]] = [
        (wake, minutes(10, 20), Activity.BATHROOM),
        (wake + habits.breakfast_after_wake_h * _H, minutes(20, 40), Activity.MEAL)]
    if rng.random() < habits.outing_chance:
        blocks.append((hour(rng.uniform(8.5, 9.5)), minutes(60, 150), Activity.OUT))
    blocks.append((hour(habits.lunch_h + rng.normal(0, 0.1)), minutes(30, 45), Activity.MEAL))
    if rng.random() < habits.nap_chance:
        blocks.append((hour(rng.uniform(13.0, 13.6)), minutes(30, 90), Activity.NAP))
    if rng.random() < habits.walk_chance:
        blocks.append((hour(rng.uniform(15.5, 16.5)), minutes(30, 60), Activity.OUT))
    blocks.append((hour(habits.dinner_h + rng.normal(0, 0.1)), minutes(30, 45), Activity.MEAL))
    blocks.append((bed - 20 * _M, minutes(10, 15), Activity.BATHROOM))

    day: list[Span] = []
    t = wake
    for wanted, length, activity in blocks:
        start = max(wanted, t)
        stop = min(start + length, bed)
        if stop <= start:
            continue
        if start > t:
            day.append(Span(t, start, Activity.AWAKE))
        day.append(Span(start, stop, activity))
        t = stop
    if t < bed:
        day.append(Span(t, bed, Activity.AWAKE))
    day = _visits(day, rng.uniform(wake, bed, rng.poisson(habits.day_visits)),
                  [minutes(4, 12) for _ in range(64)], Activity.AWAKE)
    night_start = midnight + _H
    night = [Span(midnight, wake, Activity.ASLEEP)]
    if wake - 30 * _M > night_start:
        night = _visits(night, rng.uniform(night_start, wake - 30 * _M,
                                           rng.poisson(habits.night_visits)),
                        [minutes(3, 8) for _ in range(64)], Activity.ASLEEP)
    return [*night, *day, Span(bed, end_of_day, Activity.ASLEEP)]


def _visits(spans: list[Span], starts: Iterable[float], lengths: list[float],
            into: Activity) -> list[Span]:
    """Bathroom visits cut into spans of `into`; a visit that does not fit is dropped."""
    out = list(spans)
    for start, length in zip(sorted(starts), lengths, strict=False):
        for i, span in enumerate(out):
            if span.activity is into and span.start < start and start + length < span.end:
                out[i:i + 1] = [Span(span.start, start, into),
                                Span(start, start + length, Activity.BATHROOM),
                                Span(start + length, span.end, into)]
                break
    return out


def sensor_changes(spans: Iterable[Span], rng: np.random.Generator, *,
                   bathroom_sensor: bool) -> list[Change]:
    """The sensor intervals the spans make, as changes in time order."""
    intervals: dict[Sensor, list[tuple[float, float]]] = {s: [] for s in Sensor}

    def pulses(start: float, end: float, mean_gap_s: float) -> None:
        t = start
        while t < end:
            intervals[Sensor.MOTION].append((t, t + PIR_HOLD_S))
            t += float(rng.exponential(mean_gap_s)) + 30.0

    for span in spans:
        a = span.activity
        if a in (Activity.ASLEEP, Activity.NAP):
            intervals[Sensor.BED].append((span.start, span.end))
        elif a is Activity.AWAKE:
            pulses(span.start, span.end, 12 * _M)
        elif a is Activity.MEAL:
            pulses(span.start, span.end, 4 * _M)
        elif a is Activity.BATHROOM:
            intervals[Sensor.MOTION].append((span.start, span.start + PIR_HOLD_S))
            if bathroom_sensor:
                intervals[Sensor.BATHROOM].append((span.start, span.end))
        else:  # out: the door opens as they leave and as they come back
            intervals[Sensor.MOTION].append((span.start - 60.0, span.start + 30.0))
            intervals[Sensor.DOOR].append((span.start, span.start + DOOR_OPEN_S))
            intervals[Sensor.DOOR].append((span.end, span.end + DOOR_OPEN_S))
            intervals[Sensor.MOTION].append((span.end + 10.0, span.end + 10.0 + PIR_HOLD_S))
    changes: list[Change] = []
    for sensor, spans_of in intervals.items():
        for start, end in _merge(spans_of):
            changes += [Change(start, sensor, True), Change(end, sensor, False)]
    changes.sort(key=lambda c: c.ts)
    return changes


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# ---------------------------------------------------------------- a site's residents


@dataclass(frozen=True, slots=True)
class Home:
    resident: str
    unit: str
    """The unit's place id, `b1/f3/302`."""
    devices: Mapping[Sensor, tuple[str, ...]]


def homes_of(site: Site) -> list[Home]:
    """Residents whose home has at least one bed, motion or door sensor."""
    by_unit: dict[str, dict[Sensor, list[str]]] = {}
    for device in site.devices.values():
        kind = device.kind.name
        if kind == "bed_sensor":
            sensor = Sensor.BED
        elif kind == "door_contact":
            sensor = Sensor.DOOR
        elif kind == "motion_sensor":
            sensor = Sensor.BATHROOM if device.room == "bathroom" else Sensor.MOTION
        else:
            continue
        by_unit.setdefault(device.place.id, {}).setdefault(sensor, []).append(device.id)
    homes = []
    for resident in site.residents:
        found = by_unit.get(resident.unit.id)
        if found:
            homes.append(Home(resident.id, resident.unit.id,
                              {s: tuple(ids) for s, ids in found.items()}))
    return homes


def values_of(sensor: Sensor, active: bool) -> Values:
    if sensor is Sensor.BED:
        return {"in_bed": active}
    if sensor is Sensor.DOOR:
        return {"contact": not active}
    return {"occupancy": active}


QUIET: Mapping[Sensor, bool] = {Sensor.MOTION: False, Sensor.BATHROOM: False,
                                Sensor.DOOR: False}
"""What a held home's sensors show unless the hold says otherwise: nobody moving."""


class _Follow:
    """One home followed through time: its planned changes, the state the plan says, and the
    state its sensors show (the same unless the home is held)."""

    __slots__ = ("habits", "held", "home", "pending", "planned", "planned_until", "rng_key",
                 "shown")

    def __init__(self, home: Home, seed: int) -> None:
        self.home = home
        self.rng_key = [seed, zlib.crc32(home.resident.encode())]
        self.habits = Habits.draw(np.random.default_rng(self.rng_key))
        self.pending: list[Change] = []
        self.planned_until: date | None = None
        self.planned: dict[Sensor, bool] = dict.fromkeys(home.devices, False)
        self.shown: dict[Sensor, bool] = dict(self.planned)
        self.held = False


class Routines:
    """Every care resident of a site living their days; deterministic for a seed."""

    def __init__(self, site: Site, *, seed: int = 1) -> None:
        self._zone = ZoneInfo(site.timezone)
        self._homes = {h.unit: _Follow(h, seed) for h in homes_of(site)}
        self._by_resident = {f.home.resident: unit for unit, f in self._homes.items()}
        self._devices = {device: (f, sensor) for f in self._homes.values()
                         for sensor, ids in f.home.devices.items() for device in ids}
        self._now: float | None = None

    @property
    def homes(self) -> list[Home]:
        return [f.home for f in self._homes.values()]

    def unit_of(self, resident_or_unit: str) -> str | None:
        """The unit of a resident id or unit id that has a followed home."""
        if resident_or_unit in self._homes:
            return resident_or_unit
        return self._by_resident.get(resident_or_unit)

    def reading(self, device_id: str) -> Values | None:
        """What a routine device shows now; None for a device no routine drives."""
        found = self._devices.get(device_id)
        if found is None:
            return None
        follow, sensor = found
        return values_of(sensor, follow.shown[sensor])

    def start(self, now: float) -> list[tuple[str, Values]]:
        """Where everyone is at `now`: every routine device's current reading."""
        out: list[tuple[str, Values]] = []
        for follow in self._homes.values():
            self._advance(follow, now)
            if not follow.held:
                follow.shown = dict(follow.planned)
            out += self._readings(follow, follow.shown)
        self._now = now
        return out

    def due(self, now: float) -> list[tuple[str, Values]]:
        """Readings of the devices whose state changed since the last call."""
        if self._now is None:
            return self.start(now)
        out: list[tuple[str, Values]] = []
        for follow in self._homes.values():
            self._advance(follow, now)
            if not follow.held:
                out += self._show(follow, follow.planned)
        self._now = now
        return out

    def hold(self, unit: str, now: float, active: Mapping[Sensor, bool] | None = None
             ) -> list[tuple[str, Values]]:
        """From `now` the home shows `active` (others: nobody moving, the bed as it was)
        until `resume`. Returns the readings that change."""
        follow = self._homes[unit]
        self._advance(follow, now)
        follow.held = True
        return self._show(follow, {**QUIET, **(active or {})})

    def resume(self, unit: str, now: float) -> list[tuple[str, Values]]:
        """Back to the routine: readings of the sensors whose state differs from the plan's."""
        follow = self._homes[unit]
        self._advance(follow, now)
        follow.held = False
        return self._show(follow, follow.planned)

    def plan(self, unit: str, day: date) -> list[Span]:
        """The spans of one local day of the home's resident (for tests and docs)."""
        follow = self._homes[unit]
        return plan_day(follow.habits, self._midnight(day), self._rng(follow, day))

    # ------------------------------------------------------------------ internals

    def _midnight(self, day: date) -> float:
        return datetime.combine(day, time(0), self._zone).timestamp()

    def _rng(self, follow: _Follow, day: date) -> np.random.Generator:
        return np.random.default_rng([*follow.rng_key, day.toordinal()])

    def _advance(self, follow: _Follow, now: float) -> None:
        """Apply the planned changes up to `now` to the planned state."""
        today = datetime.fromtimestamp(now, self._zone).date()
        if follow.planned_until is None:
            follow.planned_until = today - timedelta(days=1)
        while follow.planned_until <= today:
            day = follow.planned_until
            spans = plan_day(follow.habits, self._midnight(day), self._rng(follow, day))
            # A second generator for the pulses, so they don't shift the day's plan.
            pulses = np.random.default_rng([*follow.rng_key, day.toordinal(), 1])
            follow.pending += sensor_changes(spans, pulses,
                                             bathroom_sensor=Sensor.BATHROOM in follow.planned)
            follow.planned_until = day + timedelta(days=1)
        done = 0
        for change in follow.pending:
            if change.ts > now:
                break
            done += 1
            if change.sensor in follow.planned:
                follow.planned[change.sensor] = change.active
        del follow.pending[:done]

    @staticmethod
    def _show(follow: _Follow, wanted: Mapping[Sensor, bool]) -> list[tuple[str, Values]]:
        changed = {s: v for s, v in wanted.items() if s in follow.shown and follow.shown[s] != v}
        follow.shown.update(changed)
        return Routines._readings(follow, changed)

    @staticmethod
    def _readings(follow: _Follow, states: Mapping[Sensor, bool]
                  ) -> list[tuple[str, Values]]:
        return [(device, values_of(sensor, active))
                for sensor, active in states.items()
                for device in follow.home.devices.get(sensor, ())]
