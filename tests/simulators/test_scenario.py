"""Scenario files: the shipped ones load, every mistake names file:line, happenings become
the right device actions, and expectations are judged from what the hub shows. Pure."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devices.yamlsource import ConfigError
from simulators.routine import Sensor
from simulators.scenario import ScenarioResult, junit_xml, parse_scenario, results_table
from simulators.scenario.expect import Delivery, Outcome, Tracker, Verdict
from simulators.scenario.loader import load_scenario
from simulators.scenario.model import (
    AlertView,
    Expectation,
    HoldHome,
    Match,
    Mute,
    Restore,
    ResumeHome,
    Scenario,
    SendEvent,
    SetAvailable,
    SetValues,
)
from simulators.scenario.runner import resolve_start
from simulators.scenario.spec import duration, show_duration

ROOT = Path(__file__).parents[2]
SITES = ROOT / "scenarios" / "sites"
HERE = SITES / "x.yaml"
"""Where the scenarios of these tests pretend to live (next to the shipped sites)."""


def scenario(body: str, site: str = "heyuan.yaml") -> Scenario:
    return parse_scenario(f"name: t\nsite: {site}\n{body}", HERE)


def error_of(body: str, site: str = "heyuan.yaml") -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        scenario(body, site)
    return caught.value


NO_ALERT = "expect:\n  - no_alert: {category: fire}\n"


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_scenarios_load(path: Path) -> None:
    s = load_scenario(path)
    assert s.expectations
    assert all(e.line is not None for e in s.expectations)
    assert [a.at for a in s.actions] == sorted(a.at for a in s.actions)


def test_a_scenario_in_full() -> None:
    s = scenario("""title: 厨房起火
speed: 600
start: "06:30"
drill: true
background: {interval_scale: 0.5, routines: false, seed: 4}
timeline:
  - at: 1m
    fire: {unit: b1/f1/101, for: 5m}
expect:
  - alert: {rule: fire_confirmed, place: b1/f1}
    after: fire
    within: 2m
    delivered_to: [duty-room]
    exercise: true
    resolved_within: 3m
  - no_alert: {category: gas}
    within: 10m
""")
    assert (s.title, s.speed, s.start, s.drill) == ("厨房起火", 600, time(6, 30), "厨房起火")
    assert (s.background.interval_scale, s.background.routines) == (0.5, False)
    step = s.steps[0]
    assert (step.id, step.at, step.end, step.line) == ("fire", 60.0, 360.0, 9)
    first, second = s.expectations
    assert first.name == "alert fire_confirmed @ b1/f1 within 2m after fire"
    assert (first.delivered_to, first.exercise, first.resolved_within) == (
        ("duty-room",), True, 180.0)
    assert second.name == "no alert gas for 10m"
    assert s.since(first) == 60.0
    assert s.planned_end() == 600.0


@pytest.mark.parametrize(("body", "line", "where", "what"), [
    ("speed: fast\n" + NO_ALERT, 3, "speed", "valid number"),
    ("colour: red\n" + NO_ALERT, 3, "colour", "unknown key"),
    ("timeline:\n  - at: soon\n    sos: {unit: b1/f1/101}\n" + NO_ALERT, 4,
     "timeline[0].at", "is not a duration"),
    ("timeline:\n  - at: 1m\n    sos: {unit: b1/f1/101}\n    tamper: {device: b1-f1-cam}\n"
     + NO_ALERT, 4, "timeline[0]", "has sos, tamper"),
    ("timeline:\n  - at: 1m\n    fire: {unit: b9/f1/101}\n" + NO_ALERT, 5,
     "timeline[0].fire.unit", "no place 'b9/f1/101'"),
    ("timeline:\n  - at: 1m\n    fall:\n      unit: b1/f2/201\n" + NO_ALERT, 6,
     "timeline[0].fall.unit", "not the home of a resident"),
    ("timeline:\n  - at: 1m\n    fall: {unit: b1/f1/101, resident: res-b1-101}\n" + NO_ALERT,
     5, "timeline[0].fall", "exactly one of `resident`"),
    ("timeline:\n  - at: 1m\n    values: {device: b1-pump, set: {presure_mpa: 0.1}}\n"
     + NO_ALERT, 5, "timeline[0].values.set.presure_mpa", "no metric 'presure_mpa'"),
    ("timeline:\n  - at: 1m\n    values: {device: b1-pump, set: {running: 3}}\n" + NO_ALERT,
     5, "timeline[0].values.set.running", "is a bool"),
    ("timeline:\n  - at: 1m\n    event: {device: b1-pump, type: fire}\n" + NO_ALERT, 5,
     "timeline[0].event.type", "has no 'fire' event"),
    ("timeline:\n  - at: 1m\n    sos: {unit: b1/f2/201}\n" + NO_ALERT, 5,
     "timeline[0].sos.unit", "no SOS button"),
    ("timeline:\n  - at: 1m\n    power_cut: {building: b1/f1}\n" + NO_ALERT, 5,
     "timeline[0].power_cut.building", "is a floor, not a building"),
    ("timeline:\n  - at: 1m\n    id: x\n    sos: {unit: b1/f1/101}\n  - at: 2m\n    id: x\n"
     "    tamper: {device: b1-f1-cam}\n" + NO_ALERT, 8, "timeline[1].id", "already used"),
    ("expect:\n  - alert: {rule: smoke_alarm}\n", 4, "expect[0]", "needs `within`"),
    ("expect:\n  - alert: {place: b1}\n    within: 1m\n", 4, "expect[0].alert",
     "name a `rule` or a `category`"),
    ("expect:\n  - alert: {rule: smoke_alarm}\n    within: 1m\n    after: fire\n", 6,
     "expect[0].after", "no step 'fire'"),
    ("expect:\n  - alert: {rule: smoke_alarm, place: b7}\n    within: 1m\n", 4,
     "expect[0].alert.place", "no place 'b7'"),
    ("expect:\n  - no_alert: {rule: smoke_alarm}\n    delivered_to: [x]\n", 4, "expect[0]",
     "belong to an `alert` expectation"),
    ("expect:\n  - alert: {rule: smoke_alarm}\n    within: 1m\n    resolved_within: 1m\n", 6,
     "expect[0].resolved_within", "give `after: <step id>`"),
    ("start: tomorrow\n" + NO_ALERT, 3, "start", "give a time of day"),
    ("expect: []\n", 3, "expect", "at least 1 item"),
])
def test_every_mistake_names_file_and_line(body: str, line: int, where: str,
                                           what: str) -> None:
    error = error_of(body)
    assert (error.source, error.line, error.where) == (str(HERE), line, where), str(error)
    assert what in error.what


def test_a_missing_site_file_is_named() -> None:
    error = error_of(NO_ALERT, site="nowhere.yaml")
    assert error.line == 2
    assert "cannot read site file" in error.what
    assert "nowhere.yaml" in error.what


def test_a_broken_site_is_reported_at_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text("id: x\nname: y\ngrids: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        parse_scenario(f"name: t\nsite: site.yaml\n{NO_ALERT}", tmp_path / "s.yaml")
    assert caught.value.source == str(tmp_path / "site.yaml")


def test_durations() -> None:
    assert [duration(v) for v in ("30s", "2m", "1h30m", "1.5h", "2d", 45, "500ms", "10")] == [
        30, 120, 5400, 5400, 172800, 45, 0.5, 10]
    for bad in ("soon", "-1s", True, "1x"):
        with pytest.raises(ValueError, match=r"not a duration|negative"):
            duration(bad)
    assert [show_duration(s) for s in (0.123, 45, 90, 3600, 5400)] == [
        "0.1s", "45s", "1m30s", "1h", "1h30m"]


def test_start_resolves_to_the_next_time_of_day() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    morning = datetime(2026, 11, 27, 5, 0, tzinfo=zone).timestamp()
    evening = datetime(2026, 11, 27, 20, 0, tzinfo=zone).timestamp()
    six = datetime(2026, 11, 27, 6, 30, tzinfo=zone).timestamp()
    assert resolve_start(time(6, 30), morning, zone) == six
    assert resolve_start(time(6, 30), evening, zone) == six + 86_400
    assert resolve_start(time(6, 30), six, zone) == six
    assert resolve_start(1234.5, evening, zone) == 1234.5


# ---------------------------------------------------------------- happenings


def actions_of(body: str, site: str = "heyuan.yaml") -> list:  # type: ignore[type-arg]
    return list(scenario(f"timeline:\n{body}\n{NO_ALERT}", site).actions)


def test_a_fire_is_smoke_then_a_rising_temperature_then_out() -> None:
    actions = actions_of("  - at: 1m\n    fire: {unit: b1/f1/101, spread_to: [b1/f1/102], "
                         "spread_after: 40s, rise_per_min: 12, peak: 60, for: 5m}")
    smoke = [a for a in actions if a.device == "b1-101-smoke"]
    assert smoke == [SetValues(60, 0, "b1-101-smoke", {"smoke": True, "smoke_density": 12.0}),
                     Restore(360, 0, "b1-101-smoke")]
    heat = [(a.at, a.values["temperature"]) for a in actions
            if a.device == "b1-101-heat" and isinstance(a, SetValues)]
    assert heat[0] == (80.0, 24.0)  # 20 s after the smoke
    assert heat[-1][1] == 60.0
    slope = (heat[3][1] - heat[0][1]) / (heat[3][0] - heat[0][0]) * 60
    assert slope == pytest.approx(12, abs=0.5)
    neighbour = [a for a in actions if a.device == "b1-102-smoke"]
    assert [type(a) for a in neighbour] == [SetValues, Restore]
    assert neighbour[0].at == 100


def test_a_gas_leak_climbs_to_its_peak() -> None:
    actions = actions_of("  - at: 0s\n    gas_leak: {unit: b2/f3/301, lel: 45, rise: 1m, "
                         "every: 15s, for: 3m}")
    levels = [(a.at, a.values["gas_lel"]) for a in actions if isinstance(a, SetValues)]
    assert levels == [(0, 0.5), (15, 11.6), (30, 22.8), (45, 33.9), (60, 45.0)]
    assert isinstance(actions[-1], Restore)
    assert actions[-1].at == 180


def test_a_flood_raises_gauges_wets_sensors_and_drains_the_tank() -> None:
    actions = actions_of("  - at: 0s\n    flood: {building: b1, level_cm: 40, "
                         "tank_fall_per_min: 20, leaks: [b1/f1], every: 30s, for: 2m}")
    tank = [a.values["level_pct"] for a in actions
            if isinstance(a, SetValues) and a.device == "b1-tank"]
    assert tank == [90.0, 80.0, 70.0, 60.0, 50.0]
    wet = sorted(a.device for a in actions
                 if isinstance(a, SetValues) and a.values.get("water_leak") is True)
    assert wet == ["b1-101-leak", "b1-102-leak"]
    gauge = [a.values["water_level_cm"] for a in actions
             if isinstance(a, SetValues) and a.device == "g1-flood-gauge"]
    assert gauge[-1] == 40.0


def test_a_power_cut_takes_the_building_dark_and_brings_it_back() -> None:
    actions = actions_of("  - at: 0s\n    power_cut: {building: b2, for: 4m}")
    at_once = [a for a in actions if a.at == 0]
    assert SetValues(0, 0, "b2-meter", {"on_mains": False, "voltage_v": 0.0,
                                        "power_kw": 0.0}) in at_once
    dark = {a.device for a in at_once if isinstance(a, SetAvailable) and not a.online}
    assert dark == {"b2-nvr", *(f"b2-f{f}-cam" for f in range(1, 7))}
    assert {a.device for a in at_once if isinstance(a, Mute) and a.muted} == dark
    back = {a.device for a in actions if isinstance(a, SetAvailable) and a.online}
    assert back == dark
    assert all(a.at == 240 for a in actions if a not in at_once)


def test_residents_fall_stop_moving_or_stay_in_bed() -> None:
    actions = actions_of("  - at: 1m\n    fall: {resident: res-zhang, where: bathroom, "
                         "for: 2h}\n  - at: 2m\n    stays_in_bed: {unit: c1/f1/102}\n"
                         "  - at: 3m\n    inactive: {resident: res-chen}", site="care.yaml")
    assert actions[:2] == [
        SendEvent(60, 0, "c1-201-fall", "fall"),
        HoldHome(60, 0, "c1/f2/201", ((Sensor.BED, False), (Sensor.BATHROOM, True)))]
    assert HoldHome(120, 1, "c1/f1/102", ((Sensor.BED, True),)) in actions
    assert HoldHome(180, 2, "c1/f3/301", ()) in actions
    assert actions[-1] == ResumeHome(60 + 7200, 0, "c1/f2/201")


def test_events_repeat_and_sos_finds_the_button() -> None:
    actions = actions_of("  - at: 0s\n    event: {device: g1-gate-cam, type: intrusion, "
                         "count: 3, every: 40s}\n  - at: 1m\n    sos: {unit: b1/f1/101}")
    assert actions == [SendEvent(0, 0, "g1-gate-cam", "intrusion"),
                       SendEvent(40, 0, "g1-gate-cam", "intrusion"),
                       SendEvent(60, 1, "b1-101-sos", "sos"),
                       SendEvent(80, 0, "g1-gate-cam", "intrusion")]


# ---------------------------------------------------------------- judging


SITE = load_scenario(ROOT / "scenarios" / "fire-drill.yaml").site


def alert(rule: str = "fire_confirmed", place: str = "b1/f1", raised: float = 100.0, *,
          cleared: float | None = None, severity: str = "critical", exercise: bool = False,
          alert_id: str = "a1", category: str = "fire") -> AlertView:
    return AlertView(alert_id, rule, category, severity, cleared is None, place, place,
                     "b1-101-smoke", raised, cleared, exercise)


def tracker(kind: str = "alert", within: float | None = 120.0, **extra: object) -> Tracker:
    match = extra.pop("match", Match(rule="fire_confirmed", place="b1"))
    e = Expectation(0, kind, match, "fire", within, **extra)  # type: ignore[arg-type]
    t = Tracker(e, SITE)
    t.begin(90.0, 300.0)
    return t


def test_an_alert_in_time_passes_with_its_latency() -> None:
    t = tracker()
    t.update([], frozenset(), 95.0, 10.0)
    assert t.verdict is Verdict.PENDING
    t.update([alert(raised=130.0)], frozenset(), 140.0, 10.0)
    assert (t.verdict, t.latency) == (Verdict.PASSED, 40.0)
    assert "raised 40s after fire" in t.detail


def test_an_alert_too_late_or_never_fails_saying_why() -> None:
    late = tracker()
    late.update([alert(raised=250.0)], frozenset(), 260.0, 10.0)
    assert late.verdict is Verdict.FAILED
    assert late.detail == "raised 2m40s after, later than 2m"
    never = tracker()
    elsewhere = alert(place="b2/f1")
    never.update([elsewhere], frozenset(), 215.0, 10.0)
    assert never.verdict is Verdict.PENDING  # within the grace
    never.update([elsewhere], frozenset(), 221.0, 10.0)
    assert never.verdict is Verdict.FAILED
    assert "raised instead: fire_confirmed @ b2/f1" in never.detail


def test_alerts_from_before_the_step_or_the_start_do_not_count() -> None:
    t = tracker()
    t.update([alert(raised=80.0), alert(raised=120.0, alert_id="old")], frozenset({"old"}),
             300.0, 10.0)
    assert t.verdict is Verdict.FAILED


def test_deliveries_exercise_and_resolution_are_checked() -> None:
    t = tracker(delivered_to=("duty-room", "speakers"), exercise=True, resolved_within=60.0)
    raised = alert(raised=100.0, exercise=True)
    t.update([raised], frozenset(), 101.0, 10.0)
    assert t.wants_deliveries() == "a1"
    assert t.wants_cap() == "a1"
    t.take_deliveries([Delivery("duty-room", "sent", 101.0), Delivery("speakers", "pending",
                                                                      None)])
    t.take_cap("<alert><status>Exercise</status></alert>")
    t.update([raised], frozenset(), 102.0, 10.0)
    assert t.verdict is Verdict.PENDING
    t.take_deliveries([Delivery("speakers", "sent", 103.0)])
    assert t.wants_deliveries() is None
    t.update([raised], frozenset(), 104.0, 10.0)
    assert t.verdict is Verdict.PENDING  # the fire (300 s from 90) is not out yet
    t.update([alert(raised=100.0, exercise=True, cleared=420.0)], frozenset(), 425.0, 10.0)
    assert t.verdict is Verdict.PASSED, t.detail
    assert "cleared 30s after the hazard ended" in t.detail

    undelivered = tracker(delivered_to=("sms",))
    undelivered.update([raised], frozenset(), 150.0, 10.0)
    undelivered.update([raised], frozenset(), 221.0, 10.0)
    assert undelivered.detail == "not delivered to sms by the deadline"

    real = tracker(exercise=True)
    real.update([alert(exercise=False)], frozenset(), 150.0, 10.0)
    assert real.detail == "the alert is not an exercise"

    stuck = tracker(resolved_within=60.0)
    stuck.update([alert()], frozenset(), 400.0, 10.0)
    assert stuck.verdict is Verdict.PENDING
    stuck.update([alert()], frozenset(), 461.0, 10.0)
    assert stuck.detail == "still active 1m after the hazard ended"


def test_no_alert_fails_on_the_first_match_and_passes_at_the_end() -> None:
    t = tracker("no_alert", None, match=Match(category="gas"))
    t.update([alert(category="fire")], frozenset(), 500.0, 10.0)
    assert (t.verdict, t.open_ended) == (Verdict.PENDING, True)
    t.finish(600.0)
    assert t.verdict is Verdict.PASSED
    bad = tracker("no_alert", None, match=Match(category="gas"))
    bad.update([alert("gas_leak", "b2/f3/301", 200.0, category="gas")], frozenset(), 210.0,
               10.0)
    assert bad.verdict is Verdict.FAILED
    assert bad.detail.startswith("raised gas_leak about b2/f3/301 1m50s in")
    windowed = tracker("no_alert", 60.0, match=Match(category="gas"))
    windowed.update([alert("gas_leak", "b2/f3/301", 200.0, category="gas")], frozenset(),
                    200.0, 10.0)
    assert windowed.verdict is Verdict.PASSED


def test_a_match_is_about_a_place_or_inside_it_at_least_that_severe() -> None:
    a = alert(place="b1/f1/101", severity="major")
    assert Match(rule="fire_confirmed", place="b1").matches(a, SITE)
    assert Match(rule="fire_confirmed", place="g1").matches(a, SITE)
    assert not Match(rule="fire_confirmed", place="b1/f2").matches(a, SITE)
    assert Match(category="fire", severity="minor").matches(a, SITE)
    assert not Match(category="fire", severity="critical").matches(a, SITE)
    assert not Match(rule="smoke_alarm").matches(a, SITE)


def test_the_table_and_the_junit_report() -> None:
    s = load_scenario(ROOT / "scenarios" / "gas-leak.yaml")
    first, second, third = s.expectations
    result = ScenarioResult(s.name, s.title, str(s.source), 120.0, (
        Outcome(first, Verdict.PASSED, 12.0, "gas_leak about b2/f3/301 raised 12s after", "a"),
        Outcome(second, Verdict.FAILED, None, "no matching alert within 2m", None),
        Outcome(third, Verdict.SKIPPED, None, "step never happened", None)), 300.0, 2.5)
    table = results_table(result)
    assert "alert gas_leak @ b2/f3/301 within 1m after gas_leak" in table
    assert "12s" in table
    assert "0.10 s" in table
    assert "✗ 2: no matching alert within 2m" in table
    assert table.endswith("gas-leak: FAILED — 1 passed, 1 failed, 1 skipped; 5m simulated "
                          "in 2.5 s (120×)")
    root = ET.fromstring(junit_xml([result]))
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("3", "1", "1")
    cases = root.findall("testsuite/testcase")
    assert [c.get("classname") for c in cases] == ["scenarios.gas-leak"] * 3
    assert cases[0].get("time") == "0.100"
    assert cases[1].find("failure").get("message") == "no matching alert within 2m"  # type: ignore[union-attr]
    assert cases[2].find("skipped") is not None
    assert cases[1].get("line") == str(second.line)
