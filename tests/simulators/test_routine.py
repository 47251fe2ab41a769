"""Residents' daily routines: deterministic by seed, plausible, and quiet enough by night and
busy enough by day that the elderly-care rules stay silent for an ordinary day."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml

from devices.site import Site, load_site
from simulators.routine import (
    DAY_S,
    Activity,
    Habits,
    Routines,
    Sensor,
    homes_of,
    plan_day,
    sensor_changes,
)
from simulators.sitegen import SiteShape, generate_site

CARE_SITE = Path(__file__).parents[2] / "scenarios" / "sites" / "care.yaml"
ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 27)


def care_site() -> Site:
    return load_site(CARE_SITE.read_text(encoding="utf-8"), str(CARE_SITE))


def local(day: date, clock: str) -> float:
    return datetime.combine(day, time.fromisoformat(clock), ZONE).timestamp()


def day_of(seed: int, day_seed: int) -> list:  # type: ignore[type-arg]
    habits = Habits.draw(np.random.default_rng(seed))
    return plan_day(habits, local(DAY, "00:00"), np.random.default_rng(day_seed))


def test_a_day_is_consecutive_spans_from_midnight_to_midnight() -> None:
    for seed in range(50):
        spans = day_of(seed, seed + 1000)
        assert spans[0].start == local(DAY, "00:00")
        assert spans[-1].end == local(DAY, "00:00") + DAY_S
        for a, b in itertools.pairwise(spans):
            assert a.end == pytest.approx(b.start)
            assert a.start < a.end
        assert spans[0].activity is Activity.ASLEEP
        assert spans[-1].activity is Activity.ASLEEP
        meals = [s for s in spans if s.activity is Activity.MEAL]
        assert len(meals) == 3
        woke = next(s for s in spans if s.activity is Activity.AWAKE)
        assert local(DAY, "05:00") < woke.start < local(DAY, "08:00")


def test_the_same_seed_gives_the_same_day_and_another_seed_another() -> None:
    assert day_of(3, 7) == day_of(3, 7)
    assert day_of(3, 7) != day_of(4, 7)
    assert day_of(3, 7) != day_of(3, 8)


def test_sensor_changes_alternate_per_sensor_and_are_in_order() -> None:
    spans = day_of(1, 2)
    changes = sensor_changes(spans, np.random.default_rng(5), bathroom_sensor=True)
    assert [c.ts for c in changes] == sorted(c.ts for c in changes)
    for sensor in Sensor:
        states = [c.active for c in changes if c.sensor is sensor]
        assert states == [True, False] * (len(states) // 2), sensor
    bed = [c for c in changes if c.sensor is Sensor.BED]
    assert bed[0].active
    assert bed[0].ts == spans[0].start
    # Without a bathroom sensor, nothing is said of the bathroom.
    plain = sensor_changes(spans, np.random.default_rng(5), bathroom_sensor=False)
    assert not [c for c in plain if c.sensor is Sensor.BATHROOM]


def test_homes_find_their_sensors_by_kind_and_room() -> None:
    homes = {h.unit: h for h in homes_of(care_site())}
    assert len(homes) == 5
    home = homes["c1/f1/101"]
    assert home.resident == "res-wang"
    assert home.devices == {Sensor.MOTION: ("c1-101-motion",),
                            Sensor.BATHROOM: ("c1-101-bath-motion",),
                            Sensor.DOOR: ("c1-101-door",), Sensor.BED: ("c1-101-bed",)}
    # A generated site without rooms: the one motion sensor is the home's.
    site = load_site(yaml.safe_dump(generate_site(SiteShape()), allow_unicode=True))
    for home in homes_of(site):
        assert set(home.devices) == {Sensor.MOTION, Sensor.DOOR, Sensor.BED}


def activity_gaps(readings: list[tuple[float, str, dict]], device_ids: set[str],  # type: ignore[type-arg]
                  start: float, end: float) -> float:
    """The longest time without an activity reading (occupancy true, door open) in
    [start, end] — what the no_activity_daytime rule measures."""
    times = [start] + [t for t, d, v in readings if d in device_ids and start <= t <= end
                       and (v.get("occupancy") is True or v.get("contact") is False)] + [end]
    return max(b - a for a, b in itertools.pairwise(times))


def test_a_month_of_ordinary_days_would_not_alarm_anyone() -> None:
    """No daytime quiet of 4 h, nobody in bed at 09:30, no bathroom visit of 45 min, the door
    never left open at night: the care pack stays silent for ordinary residents."""
    site = care_site()
    routines = Routines(site, seed=11)
    homes = routines.homes
    t = local(DAY, "00:00")
    readings: list[tuple[float, str, dict]] = [(t, d, v) for d, v in routines.start(t)]  # type: ignore[type-arg]
    end = t + 30 * DAY_S
    while t < end:
        t += 60.0
        readings += [(t, d, v) for d, v in routines.due(t)]
    for home in homes:
        devices = {d for ids in home.devices.values() for d in ids}
        mine = [r for r in readings if r[1] in devices]
        for n in range(30):
            day = DAY + timedelta(days=n)
            gap = activity_gaps(mine, devices, local(day, "07:00"), local(day, "22:00"))
            assert gap < 3.5 * 3600, (home.unit, day, gap / 3600)
            in_bed = [v["in_bed"] for ts, _, v in mine if "in_bed" in v
                      and ts <= local(day, "09:30")]
            assert in_bed[-1] is False, (home.unit, day)
        bath = [(ts, v["occupancy"]) for ts, d, v in mine
                if d.endswith("bath-motion")]
        longest = max(b[0] - a[0] for a, b in itertools.pairwise(bath) if a[1])
        assert longest < 45 * 60
        door = [(ts, v["contact"]) for ts, d, v in mine if "contact" in v]
        assert max(b[0] - a[0] for a, b in itertools.pairwise(door)
                   if a[1] is False) < 5 * 60


def test_readings_do_not_depend_on_how_often_one_asks() -> None:
    site = care_site()
    start = local(DAY, "05:00")

    def states(step_s: float) -> dict[str, object]:
        routines = Routines(site, seed=3)
        last = dict(routines.start(start))
        t = start
        while t < start + DAY_S:
            t = min(t + step_s, start + DAY_S)
            last.update(routines.due(t))
        return last

    assert states(60.0) == states(977.0)


def test_a_held_home_shows_the_hold_until_it_resumes() -> None:
    site = care_site()
    routines = Routines(site, seed=3)
    t = local(DAY, "10:00")
    routines.start(t)
    held = dict(routines.hold("c1/f2/201", t, {Sensor.BATHROOM: True, Sensor.BED: False}))
    assert held.get("c1-201-bath-motion") == {"occupancy": True}
    quiet = []
    for _ in range(300):  # five hours
        t += 60
        quiet += [d for d, _ in routines.due(t) if d.startswith("c1-201")]
    assert quiet == []
    assert routines.reading("c1-201-bath-motion") == {"occupancy": True}
    resumed = dict(routines.resume("c1/f2/201", t))
    assert resumed.get("c1-201-bath-motion") == {"occupancy": False}
    assert routines.reading("c1-201-bed") is not None
    assert routines.reading("c1-201-smoke") is None
    assert routines.unit_of("res-zhang") == "c1/f2/201"
    assert routines.unit_of("c1/f2/201") == "c1/f2/201"
    assert routines.unit_of("nobody") is None
