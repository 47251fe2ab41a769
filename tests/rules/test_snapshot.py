"""Engine state over a restart: snapshot → JSON → a new engine, which carries on where the old
one stopped instead of starting every timer, window and baseline again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from devices.messages import Availability, DeviceEvent
from devices.site import load_site
from rules.engine import Decision, Raise, RulesEngine
from rules.schema import Severity
from tests.rules.caresite import (
    CARE_TEXT,
    T0,
    at,
    engine,
    pack,
    read,
    summary,
    telemetry,
)

HOME = "h1/f3/301"
UPSTAIRS = "h1/f4/401"

Make = Callable[[float], RulesEngine]
"""Builds an engine with the rules under test, started at the given time."""


def as_json(snapshot: dict[str, Any]) -> dict[str, Any]:
    """What the hub stores and reads back (hub/service.py does the same)."""
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(snapshot,
                                                       option=orjson.OPT_NON_STR_KEYS))
    return loaded


def restart(old: RulesEngine, make: Make, started: float) -> RulesEngine:
    new = make(started)
    new.restore(as_json(old.snapshot()))
    return new


def event(eng: RulesEngine, device: str, now: float, kind: str) -> list[Decision]:
    return eng.on_event(DeviceEvent(device, now, kind), now)


# ------------------------------------------------------------------ timers and windows

HOLD_10M = pack("{type: threshold, metric: temperature, above: 57, clear_below: 50, for: 10m}",
                kinds="[heat_detector]")


def hold_engine(started: float) -> RulesEngine:
    return engine(HOLD_10M, started=started)


@pytest.mark.parametrize(
    ("after_restart", "raised"),
    [
        pytest.param(None, True, id="no-reading"),
        pytest.param(63.0, True, id="still-hot"),
        pytest.param(55.0, False, id="cooled-below-the-level"),
    ],
)
def test_a_pending_for_fires_at_its_own_mark(after_restart: float | None, raised: bool
                                            ) -> None:
    old = hold_engine(T0)
    read(old, "h302-heat", T0, temperature=60)
    read(old, "h302-heat", T0 + 300, temperature=61)
    assert old.tick(T0 + 480) == []
    new = restart(old, hold_engine, T0 + 540)  # down for a minute, 8 min into the 10
    if after_restart is not None:
        read(new, "h302-heat", T0 + 550, temperature=after_restart)
    assert new.tick(T0 + 599) == []
    decisions = new.tick(T0 + 600)
    assert summary(decisions) == ([("raise", "r1", "h302-heat")] if raised else [])
    if raised:
        assert isinstance(decisions[0], Raise)
        assert decisions[0].value == (after_restart or 61.0)


def test_without_the_snapshot_the_hold_would_start_again() -> None:
    """The contrast: a new engine knows nothing of the 8 minutes."""
    new = hold_engine(T0 + 540)
    read(new, "h302-heat", T0 + 550, temperature=61)
    assert new.tick(T0 + 600) == []
    assert summary(new.tick(T0 + 550 + 600)) == [("raise", "r1", "h302-heat")]


def quiet_engine(started: float) -> RulesEngine:
    return engine(ship=("elderly_care",), only=("no_activity_daytime",), started=started)


def test_an_inactivity_timer_survives_a_restart() -> None:
    old = quiet_engine(at(0, "06:00"))
    read(old, "h301-hall", at(0, "08:00"), occupancy=True)
    read(old, "h401-motion", at(0, "08:30"), occupancy=True)
    assert old.tick(at(0, "10:00")) == []
    new = restart(old, quiet_engine, at(0, "10:30"))
    assert new.tick(at(0, "11:59:59")) == []
    assert summary(new.tick(at(0, "12:00"))) == [("raise", "no_activity_daytime", HOME)]
    assert summary(new.tick(at(0, "12:30"))) == [("raise", "no_activity_daytime", UPSTAIRS)]


def intrusion_engine(started: float) -> RulesEngine:
    return engine(ship=("video",), only=("intrusion_repeated",), started=started)


def test_an_event_count_window_survives_a_restart() -> None:
    old = intrusion_engine(T0)
    event(old, "b2-cam01", T0, "intrusion")
    event(old, "b2-cam01", T0 + 60, "intrusion")
    new = restart(old, intrusion_engine, T0 + 90)
    assert summary(event(new, "b2-cam01", T0 + 120, "intrusion")) == [
        ("raise", "intrusion_repeated", "b2-cam01")]


def test_an_event_clear_after_survives_a_restart() -> None:
    old = intrusion_engine(T0)
    for t in (0, 10, 20):
        event(old, "b2-cam01", T0 + t, "intrusion")
    new = restart(old, intrusion_engine, T0 + 300)
    assert new.tick(T0 + 20 + 899) == []
    assert summary(new.tick(T0 + 20 + 900)) == [("resolve", "intrusion_repeated", "b2-cam01")]


RISE = pack("{type: rate, metric: temperature, rise_per_min: 8, window: 60s}",
            kinds="[heat_detector]")


def rise_engine(started: float) -> RulesEngine:
    return engine(RISE, started=started)


def test_a_rate_buffer_survives_a_restart() -> None:
    old = rise_engine(T0)
    read(old, "h302-heat", T0, temperature=20)
    read(old, "h302-heat", T0 + 30, temperature=24)
    new = restart(old, rise_engine, T0 + 40)
    (decision,) = read(new, "h302-heat", T0 + 60, temperature=29)
    assert isinstance(decision, Raise)
    assert decision.value == 9.0


ANOMALY = pack("{type: anomaly, metric: power_kw, z: 4, clear_z: 2, samples: 60,"
               " min_samples: 20}", kinds="[power_meter]")


def anomaly_engine(started: float) -> RulesEngine:
    return engine(ANOMALY, started=started)


def test_an_anomaly_baseline_survives_a_restart() -> None:
    old = anomaly_engine(T0)
    for i, value in enumerate([9.0, 11.0] * 10):  # mean 10, deviation 1
        read(old, "b2-meter", T0 + 60 * i, power_kw=value)
    new = restart(old, anomaly_engine, T0 + 1300)
    assert summary(read(new, "b2-meter", T0 + 1320, power_kw=14)) == [
        ("raise", "r1", "b2-meter")]


def spo2_engine(started: float) -> RulesEngine:
    return engine(ship=("elderly_care",), only=("spo2_low",), started=started)


def test_a_streak_survives_a_restart() -> None:
    old = spo2_engine(T0)
    read(old, "h301-band", T0, spo2=85)
    read(old, "h301-band", T0 + 60, spo2=85)
    new = restart(old, spo2_engine, T0 + 90)
    assert summary(read(new, "h301-band", T0 + 120, spo2=85)) == [
        ("raise", "spo2_low", HOME)]


def fire_engine(started: float) -> RulesEngine:
    return engine(ship=("fire",), started=started)


def test_correlation_sources_survive_a_restart() -> None:
    old = fire_engine(T0)
    read(old, "h301-smoke", T0, smoke=True)
    new = restart(old, fire_engine, T0 + 30)
    assert summary(read(new, "h302-smoke", T0 + 60, smoke=True)) == [
        ("raise", "smoke_alarm", "h1/f3/302"), ("raise", "fire_confirmed", "h1/f3")]
    assert summary(read(new, "h301-smoke", T0 + 70, smoke=False)) == [
        ("resolve", "smoke_alarm", HOME)]
    assert summary(read(new, "h302-smoke", T0 + 80, smoke=False)) == [
        ("resolve", "smoke_alarm", "h1/f3/302"), ("resolve", "fire_confirmed", "h1/f3")]


def bed_engine(started: float) -> RulesEngine:
    return engine(ship=("elderly_care",), only=("not_up_by_morning",), started=started)


def test_the_latest_state_survives_a_restart() -> None:
    old = bed_engine(at(0, "06:00"))
    read(old, "h301-bed", at(0, "07:00"), in_bed=True)
    new = restart(old, bed_engine, at(0, "08:30"))
    assert summary(new.tick(at(0, "09:30"))) == [("raise", "not_up_by_morning", HOME)]


def test_a_daily_check_done_before_a_restart_is_not_repeated() -> None:
    old = bed_engine(at(0, "06:00"))
    read(old, "h301-bed", at(0, "07:00"), in_bed=True)
    assert len(old.tick(at(0, "09:31"))) == 1
    new = restart(old, bed_engine, at(0, "09:40"))
    assert new.tick(at(0, "09:41")) == []
    assert new.tick(at(1, "09:00")) == []
    assert summary(read(new, "h301-bed", at(1, "09:10"), in_bed=False)) == [
        ("resolve", "not_up_by_morning", HOME)]


def test_the_newest_reading_time_survives_a_restart() -> None:
    """A late, older reading after the restart must not clear what the newer one raised."""
    old = engine(ship=("gas",), started=T0)
    old.on_telemetry(telemetry("h301-gas", T0 + 100, gas_lel=30), T0 + 100)
    new = restart(old, lambda started: engine(ship=("gas",), started=started), T0 + 200)
    assert new.on_telemetry(telemetry("h301-gas", T0 + 50, gas_lel=5), T0 + 210) == []
    assert summary(new.on_telemetry(telemetry("h301-gas", T0 + 220, gas_lel=5), T0 + 220)) == [
        ("resolve", "gas_leak", HOME)]


# ------------------------------------------------------------------ firing alerts still clear


def _gas(eng: RulesEngine, now: float, value: float) -> list[Decision]:
    return read(eng, "h301-gas", now, gas_lel=value)


FIRING_CASES = [
    pytest.param(("gas",), lambda e: _gas(e, T0, 45), lambda e: _gas(e, T0 + 200, 5),
                 ("gas_leak", HOME), id="threshold-with-levels"),
    pytest.param(("fire",),
                 lambda e: read(e, "h302-heat", T0, temperature=60) + e.tick(T0 + 10),
                 lambda e: read(e, "h302-heat", T0 + 200, temperature=45),
                 ("heat_high", "h1/f3/302"), id="held-threshold"),
    pytest.param(("elderly_care",),
                 lambda e: read(e, "h301-band", T0, heart_rate=130) + e.tick(T0 + 120),
                 lambda e: read(e, "h301-band", T0 + 200, heart_rate=70),
                 ("heart_rate_abnormal", HOME), id="composite"),
    pytest.param(("elderly_care",),
                 lambda e: read(e, "h401-motion", at(0, "09:00"), occupancy=True)
                 + e.tick(at(0, "11:00")),
                 lambda e: read(e, "h301-door", at(0, "11:30"), contact=False),
                 ("no_activity_daytime", HOME), id="inactivity"),
    pytest.param(("elderly_care",),
                 lambda e: read(e, "h301-bed", at(0, "07:00"), in_bed=True)
                 + e.tick(at(0, "09:30")),
                 lambda e: read(e, "h301-bed", at(0, "10:00"), in_bed=False),
                 ("not_up_by_morning", HOME), id="state-at"),
    pytest.param(("video",), lambda e: event(e, "b2-cam01", T0, "tamper"),
                 lambda e: e.tick(T0 + 1800), ("camera_tamper", "b2-cam01"),
                 id="event-clear-after"),
    pytest.param(("video",),
                 lambda e: e.on_availability(Availability("b2-cam01", T0, online=False), T0)
                 + e.tick(T0 + 60),
                 lambda e: read(e, "b2-cam01", T0 + 100, recording=True),
                 ("camera_offline", "b2-cam01"), id="offline"),
]


@pytest.mark.parametrize(("ship", "raise_it", "clear_it", "alert"), FIRING_CASES)
def test_a_firing_alert_still_clears_after_a_restart(
    ship: tuple[str, ...], raise_it: Callable[[RulesEngine], list[Decision]],
    clear_it: Callable[[RulesEngine], list[Decision]], alert: tuple[str, str]
) -> None:
    rule_id, subject_id = alert

    def make(started: float) -> RulesEngine:
        return engine(ship=ship, only=(rule_id,), started=started)

    old = make(T0)
    assert summary(raise_it(old)) == [("raise", rule_id, subject_id)]
    new = restart(old, make, T0 + 90)
    assert new.firing_devices(rule_id, subject_id) == old.firing_devices(rule_id, subject_id)
    assert summary(clear_it(new)) == [("resolve", rule_id, subject_id)]


def test_an_escalated_alert_is_not_escalated_again_after_a_restart() -> None:
    old = engine(ship=("gas",))
    (decision,) = read(old, "h301-gas", T0, gas_lel=45)
    assert isinstance(decision, Raise)
    assert decision.severity is Severity.CRITICAL
    new = restart(old, lambda started: engine(ship=("gas",), started=started), T0 + 60)
    assert read(new, "h301-gas", T0 + 70, gas_lel=60) == []


def test_a_forgotten_event_alert_raises_anew_after_a_restart() -> None:
    def make(started: float) -> RulesEngine:
        return engine(ship=("elderly_care",), only=("sos_pressed",), started=started)

    old = make(T0)
    event(old, "h301-sos", T0, "sos")
    new = restart(old, make, T0 + 60)
    assert event(new, "h301-sos", T0 + 70, "sos") == []  # still the same alert
    new.forget("sos_pressed", HOME)
    assert summary(event(new, "h301-sos", T0 + 80, "sos")) == [("raise", "sos_pressed", HOME)]


# ------------------------------------------------------------------ the snapshot itself


def busy_engine(started: float) -> RulesEngine:
    return engine(HOLD_10M.replace("id: r1", "id: hold10"), RISE.replace("id: r1", "id: rise"),
                  ANOMALY.replace("id: r1", "id: drift"),
                  ship=("fire", "gas", "video", "power", "elderly_care"), started=started)


def busy(eng: RulesEngine) -> None:
    """A bit of everything: pending holds, rates, baselines, events, sources, offline."""
    read(eng, "h302-heat", T0, temperature=60)
    read(eng, "h302-heat", T0 + 30, temperature=62)
    read(eng, "h301-smoke", T0 + 5, smoke=True)
    read(eng, "h301-gas", T0 + 6, gas_lel=45)
    read(eng, "h301-band", T0 + 7, spo2=85, heart_rate=130)
    read(eng, "h301-bed", T0 + 8, in_bed=True)
    read(eng, "h301-hall", T0 + 9, occupancy=True)
    for i in range(25):
        read(eng, "b2-meter", T0 + 10 + i, power_kw=10 + i % 2, on_mains=True)
    event(eng, "b2-cam02", T0 + 40, "intrusion")
    event(eng, "b2-cam03", T0 + 41, "tamper")
    eng.on_availability(Availability("b2-cam04", T0 + 42, online=False), T0 + 42)
    eng.tick(T0 + 45)


def test_a_restored_engine_snapshots_the_same() -> None:
    old = busy_engine(T0)
    busy(old)
    saved = as_json(old.snapshot())
    assert all(saved[part] for part in ("watches", "firing", "last_seen", "offline_since",
                                        "newest", "latest", "events", "activity", "sources",
                                        "buffers"))
    new = busy_engine(T0 + 100)
    new.restore(saved)
    again = as_json(new.snapshot())
    del saved["state_checked"], again["state_checked"]  # a restart is a check of its own
    assert again == saved


def test_restore_into_the_same_engine_twice_changes_nothing() -> None:
    old = busy_engine(T0)
    busy(old)
    new = busy_engine(T0 + 100)
    new.restore(as_json(old.snapshot()))
    once = as_json(new.snapshot())
    new.restore(as_json(old.snapshot()))
    assert as_json(new.snapshot()) == once


def test_an_empty_snapshot_restores_nothing() -> None:
    eng = busy_engine(T0)
    before = as_json(eng.snapshot())
    eng.restore({})
    assert as_json(eng.snapshot()) == before


# ------------------------------------------------------------------ ids that are gone


def test_unknown_rule_and_device_ids_are_skipped() -> None:
    snapshot = {
        "watches": {"gone_rule|h301-gas": [True, None, 1, 3, 50.0],
                    "gas_leak|gone-device": [True, None, 1, 3, 50.0],
                    "heat_high|gone-device": [False, T0, 1, 0, 60.0]},
        "firing": {"gone_rule|h1/f3/301": ["h301-gas"]},
        "last_seen": {"gone-device": T0},
        "offline_since": {"gone-device": T0},
        "newest": {"gone-device": T0},
        "latest": {"gone-device": {"in_bed": 1.0}},
        "events": {"gone_rule|b2-cam01": [T0], "intrusion_repeated|gone-device": [T0]},
        "activity": {"gone_rule|h1/f3/301": T0, "no_activity_daytime|h1/f3/302": T0},
        "sources": {"gone_rule|h1/f3": {"h301-smoke": T0}},
        "buffers": {"gone_rule|h302-heat": [[T0], [20.0]],
                    "heat_rising|gone-device": [[T0], [20.0]]},
        "state_checked": T0,
    }
    eng = engine(ship=("fire", "gas", "video", "elderly_care"), started=T0)
    eng.restore(snapshot)
    # Nothing of it shows, and the engine works as if new.
    assert eng.tick(T0 + 60) == []
    assert summary(read(eng, "h301-gas", T0 + 61, gas_lel=25)) == [("raise", "gas_leak", HOME)]
    assert summary(read(eng, "h301-smoke", T0 + 62, smoke=True)) == [
        ("raise", "smoke_alarm", HOME)]
    saved = as_json(eng.snapshot())
    assert not any("gone" in key for part in saved.values() if isinstance(part, dict)
                   for key in part)


def test_a_snapshot_from_an_engine_with_more_rules() -> None:
    old = engine(ship=("fire", "gas"), started=T0)
    read(old, "h301-smoke", T0, smoke=True)
    read(old, "h301-gas", T0 + 1, gas_lel=30)
    new = restart(old, lambda started: engine(ship=("gas",), started=started), T0 + 60)
    assert summary(read(new, "h301-gas", T0 + 70, gas_lel=5)) == [("resolve", "gas_leak", HOME)]
    assert read(new, "h301-smoke", T0 + 71, smoke=False) == []


SMALLER = load_site(CARE_TEXT.replace(
    "                  - {id: h302-smoke2, kind: smoke_detector, room: bedroom}\n", ""),
    "care_site.yaml without h302-smoke2")


def test_a_device_removed_from_the_site_does_not_hold_alerts_up() -> None:
    """The site file lost a detector between the snapshot and the restart; it can never
    report again, so it must not keep the home's alert or the floor's fire raised."""
    assert "h302-smoke2" not in SMALLER.devices
    old = fire_engine(T0)
    read(old, "h302-smoke2", T0, smoke=True)
    read(old, "h302-smoke", T0 + 10, smoke=True)
    assert old.firing_devices("fire_confirmed", "h1/f3") == {"h302-smoke", "h302-smoke2"}
    new = restart(old, lambda started: engine(ship=("fire",), started=started, site=SMALLER),
                  T0 + 60)
    assert new.firing_devices("smoke_alarm", "h1/f3/302") == {"h302-smoke"}
    assert summary(read(new, "h302-smoke", T0 + 70, smoke=False)) == [
        ("resolve", "smoke_alarm", "h1/f3/302"), ("resolve", "fire_confirmed", "h1/f3")]


INTRUSIONS = pack("{type: event, event: intrusion, count: 3, within: 5m, clear_after: 15m}",
                  kinds="[camera]")
LOW_FPS = pack("{type: threshold, metric: fps, below: 5, for: 1m}", kinds="[camera]")


@pytest.mark.parametrize(
    ("before", "after", "feed"),
    [
        pytest.param(HOLD_10M, RISE, lambda e: read(e, "h302-heat", T0, temperature=60),
                     id="a-held-threshold-becomes-a-rate"),
        pytest.param(INTRUSIONS, LOW_FPS, lambda e: event(e, "b2-cam01", T0, "intrusion"),
                     id="an-event-count-becomes-a-threshold"),
    ],
)
def test_a_rule_edited_into_another_type_keeps_its_id_not_its_state(
    before: str, after: str, feed: Callable[[RulesEngine], list[Decision]]
) -> None:
    """Same id, another type of condition: the old timer or event window is dropped, and
    the ticks that follow must not trip over it (they would on every tick, for good: the
    next snapshot would carry the same state)."""
    old = engine(before)
    feed(old)
    new = restart(old, lambda started: engine(after, started=started), T0 + 60)
    assert new.tick(T0 + 61) == []
    assert new.tick(T0 + 3600) == []
