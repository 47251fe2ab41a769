"""The engine's newer conditions on the care site: streaks, levels, rates, baselines, quiet
homes, daily checks, events, correlation and composites — pure, time passed in."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from devices.messages import Availability, DeviceEvent
from rules.engine import Decision, Raise, Resolve, RulesEngine
from rules.schema import Severity
from rules.windows import slope_per_minute, zscore
from tests.rules.caresite import (
    T0,
    at,
    engine,
    pack,
    raises,
    read,
    summary,
    telemetry,
)

HOME = "h1/f3/301"
"""The resident's home with the bathroom sensor, the bed sensor and the wearable."""
UPSTAIRS = "h1/f4/401"
"""The other resident's home."""


def outcome(decisions: list[Decision], rule_id: str | None = None) -> str | None:
    """`raise`, `resolve` or None for a step that should decide at most one thing."""
    kinds = [kind for kind, _, _ in summary(decisions, rule_id)]
    assert len(kinds) <= 1, kinds
    return kinds[0] if kinds else None


# ------------------------------------------------------------------ times: N in a row

# spo2_low (shipped): wearable, below 90, clear_above 93, times 3, about the home.


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([89, 89, 89], [None, None, "raise"], id="three-in-a-row"),
        pytest.param([89, 89], [None, None], id="two-are-not-enough"),
        pytest.param([90, 90, 90], [None, None, "raise"], id="at-the-level-counts"),
        pytest.param([89, 89, 91, 89, 89, 89], [None, None, None, None, None, "raise"],
                     id="a-dip-resets-the-streak"),
        pytest.param([89, 89, 89, 89, 80], [None, None, "raise", None, None],
                     id="raised-once"),
        pytest.param([85, 85, 85, 92, 93, 93.5], [None, None, "raise", None, None, "resolve"],
                     id="clears-only-above-93"),
        pytest.param([85, 85, 85, 94, 85, 85, 85],
                     [None, None, "raise", "resolve", None, None, "raise"],
                     id="the-streak-starts-again-after-a-clear"),
    ],
)
def test_times_needs_readings_in_a_row(values: list[float], expected: list[str | None]
                                       ) -> None:
    eng = engine(ship=("elderly_care",))
    got = [outcome(read(eng, "h301-band", T0 + 60 * i, spo2=v), "spo2_low")
           for i, v in enumerate(values)]
    assert got == expected


def test_times_ignores_a_late_older_reading() -> None:
    """A reading older than the newest says nothing about now: it is not part of the run."""
    eng = engine(ship=("elderly_care",))
    band = "h301-band"
    assert eng.on_telemetry(telemetry(band, T0 + 10, spo2=85), T0 + 10) == []
    assert eng.on_telemetry(telemetry(band, T0 + 5, spo2=85), T0 + 11) == []
    assert eng.on_telemetry(telemetry(band, T0 + 20, spo2=85), T0 + 20) == []
    assert summary(eng.on_telemetry(telemetry(band, T0 + 30, spo2=85), T0 + 30)) == [
        ("raise", "spo2_low", HOME)]


def test_times_then_for_holds_from_the_last_reading_of_the_run() -> None:
    eng = engine(pack("{type: threshold, metric: spo2, below: 90, times: 2, for: 60s}",
                      kinds="[wearable]"))
    assert read(eng, "h301-band", T0, spo2=85) == []
    assert eng.tick(T0 + 60) == []  # one reading is no run: nothing is pending
    assert read(eng, "h301-band", T0 + 70, spo2=85) == []
    assert eng.tick(T0 + 129) == []
    assert summary(eng.tick(T0 + 130)) == [("raise", "r1", "h301-band")]


# ------------------------------------------------------------------ levels: escalation

GAS_LEVELS = pack("{type: threshold, metric: gas_lel, above: 20, clear_below: 10,"
                  " levels: {minor: 30, major: 40, critical: 50}}",
                  kinds="[gas_detector]", subject="unit", severity="warning")


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param([(25, "base"), (29.9, None), (30, Severity.MINOR), (35, None),
                      (45, Severity.MAJOR), (41, None), (39, None), (44, None),
                      (60, Severity.CRITICAL), (70, None), (9, "resolve"), (25, "base"),
                      (31, Severity.MINOR)],
                     id="step-by-step-once-per-level-and-reset-by-a-clear"),
        pytest.param([(55, Severity.CRITICAL), (45, None), (60, None)],
                     id="first-reading-already-critical"),
        pytest.param([(25, "base"), (55, Severity.CRITICAL), (65, None)],
                     id="jumping-levels-escalates-once"),
        pytest.param([(45, Severity.MAJOR), (15, None), (50, Severity.CRITICAL)],
                     id="the-hysteresis-band-keeps-the-level"),
    ],
)
def test_levels_escalate_the_alert(steps: list[tuple[float, Severity | str | None]]) -> None:
    """Each step: a reading, then `base` (a raise at the rule's severity), a Severity (a
    raise escalating to it), `resolve`, or None (no decision)."""
    eng = engine(GAS_LEVELS)
    for i, (value, expected) in enumerate(steps):
        decisions = read(eng, "h301-gas", T0 + i, gas_lel=value)
        if expected is None:
            assert decisions == [], f"step {i}: {value}"
        elif expected == "resolve":
            assert summary(decisions) == [("resolve", "r1", HOME)], f"step {i}"
        else:
            (decision,) = decisions
            assert isinstance(decision, Raise), f"step {i}"
            assert decision.severity == (None if expected == "base" else expected), f"step {i}"
            assert (decision.subject.id, decision.value) == (HOME, value)


def test_levels_below_escalate_downwards() -> None:
    eng = engine(pack("{type: threshold, metric: spo2, below: 90, clear_above: 93,"
                      " levels: {critical: 85}}", kinds="[wearable]"))
    decided: list[object] = []
    for i, value in enumerate([89, 86, 85, 80, 92, 93, 94]):
        decided += [(d.severity, d.value) if isinstance(d, Raise) else "resolve"
                    for d in read(eng, "h301-band", T0 + i, spo2=value)]
    assert decided == [(None, 89), (Severity.CRITICAL, 85), "resolve"]


def test_a_held_raise_takes_the_level_of_the_latest_value() -> None:
    eng = engine(pack("{type: threshold, metric: gas_lel, above: 20, levels: {critical: 50},"
                      " for: 10s}", kinds="[gas_detector]"))
    read(eng, "h301-gas", T0, gas_lel=25)
    read(eng, "h301-gas", T0 + 5, gas_lel=55)
    (decision,) = eng.tick(T0 + 10)
    assert isinstance(decision, Raise)
    assert (decision.severity, decision.value) == (Severity.CRITICAL, 55)


def test_a_second_device_passing_a_level_escalates_the_shared_alert() -> None:
    """Two gas detectors in one home feed one alert; the one at 45 %LEL makes it critical."""
    eng = engine(ship=("gas",))
    (first,) = read(eng, "h301-gas", T0, gas_lel=25)
    assert isinstance(first, Raise)
    assert first.severity is None
    (escalation,) = read(eng, "h301-gas2", T0 + 1, gas_lel=45)
    assert isinstance(escalation, Raise)
    assert (escalation.subject.id, escalation.severity, escalation.device_id) == (
        HOME, Severity.CRITICAL, "h301-gas2")
    assert read(eng, "h301-gas2", T0 + 2, gas_lel=48) == []
    assert eng.firing_devices("gas_leak", HOME) == {"h301-gas", "h301-gas2"}


def test_a_second_device_below_the_levels_joins_quietly() -> None:
    eng = engine(ship=("gas",))
    read(eng, "h301-gas", T0, gas_lel=25)
    assert read(eng, "h301-gas2", T0 + 1, gas_lel=30) == []


# ------------------------------------------------------------------ rate of change

RISE = pack("{type: rate, metric: temperature, rise_per_min: 8, window: 60s}",
            kinds="[heat_detector]")
FALL = pack("{type: rate, metric: temperature, fall_per_min: 8, window: 60s}",
            kinds="[heat_detector]")


@pytest.mark.parametrize(
    ("times", "values", "slope"),
    [
        # Three points 30 s apart: the slope is (last - first) / 60 s, i.e. last - first a min.
        pytest.param([0, 30, 60], [20, 24, 29], 9.0, id="even-spacing"),
        pytest.param([0, 30, 60], [20, 35, 29], 9.0, id="middle-point-has-no-weight"),
        # Hand computation: t̄ = 40/3, v̄ = 68/3; Σ(t-t̄)(v-v̄) = 660/9, Σ(t-t̄)² = 4200/9;
        # 660/4200 per second = 66/7 ≈ 9.4286 per minute.
        pytest.param([0, 10, 30], [20, 23, 25], 66 / 7, id="uneven-spacing"),
        # t̄ = 15, v̄ = 20.5; Σ(t-t̄)(v-v̄) = (-15)(-0.5) + (-5)(0.5) + 5(-0.5) + 15(0.5) = 10;
        # Σ(t-t̄)² = 500; 10/500 a second = 1.2 a minute.
        pytest.param([0, 10, 20, 30], [20, 21, 20, 21], 1.2, id="zigzag"),
        pytest.param([0, 60, 120], [50, 40, 30], -10.0, id="falling"),
        pytest.param([0, 10], [20, 40], None, id="two-points"),
        pytest.param([0, 0, 0], [20, 30, 40], None, id="no-spread-in-time"),
    ],
)
def test_slope_per_minute_by_hand(times: list[float], values: list[float],
                                  slope: float | None) -> None:
    # The times start at T0, far from zero, which the centring must survive.
    ts = np.array(times, dtype=np.float64) + T0
    got = slope_per_minute(ts, np.array(values, dtype=np.float64))
    if slope is None:
        assert got is None
    else:
        assert got == pytest.approx(slope, rel=1e-12)


@pytest.mark.parametrize(
    ("rules", "steps", "expected"),
    [
        pytest.param(RISE, [(0, 20), (30, 24), (60, 29)], [None, None, 9.0], id="raises"),
        pytest.param(RISE, [(0, 20), (30, 24), (60, 27.9)], [None, None, None],
                     id="just-under"),
        pytest.param(RISE, [(0, 20), (30, 24), (60, 28)], [None, None, 8.0],
                     id="exactly-the-rate"),
        pytest.param(RISE, [(0, 20), (10, 23), (30, 25)], [None, None, round(66 / 7, 3)],
                     id="uneven-spacing-hand-computed"),
        pytest.param(RISE, [(0, 20), (10, 90)], [None, None], id="two-points-never"),
        pytest.param(RISE, [(0, 20), (0, 40), (0, 60)], [None, None, None],
                     id="a-burst-at-one-instant"),
        # The window includes its start: at 60 the point at 0 still counts; at 61 it does not.
        pytest.param(RISE, [(0, 20), (30, 24), (61, 29)], [None, None, None],
                     id="oldest-point-just-outside"),
        # A gap: the jump from 21 to 40 across it is not inside any window.
        pytest.param(RISE, [(0, 20), (30, 21), (300, 40), (330, 44), (360, 49)],
                     [None, None, None, None, 9.0], id="a-gap-starts-afresh"),
        pytest.param(RISE, [(0, 80), (30, 76), (60, 71)], [None, None, None],
                     id="a-fall-is-no-rise"),
        pytest.param(FALL, [(0, 80), (30, 76), (60, 71)], [None, None, -9.0], id="falls"),
        pytest.param(FALL, [(0, 80), (30, 76), (60, 72.1)], [None, None, None],
                     id="falls-too-slowly"),
    ],
)
def test_rate_raises_on_the_slope(rules: str, steps: list[tuple[float, float]],
                                  expected: list[float | None]) -> None:
    """Expected per step: the raise's value (the slope per minute, 3 decimals) or None."""
    eng = engine(rules)
    got = []
    for t, value in steps:
        decisions = read(eng, "h302-heat", T0 + t, temperature=value)
        raised = raises(decisions)
        assert len(decisions) == len(raised) <= 1
        got.append(raised[0].value if raised else None)
    assert got == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # Readings 30 s apart: slope a minute = value now - value a minute ago.
        pytest.param([20, 24, 29, 33, 34, 36, 37],
                     [None, None, "raise", None, None, "resolve", None],
                     id="clears-under-half-the-rate"),  # slopes 9, 9, 5, 3, 3
        pytest.param([20, 24, 29, 33, 33, 37, 37, 37],
                     [None, None, "raise", None, None, None, None, "resolve"],
                     id="exactly-half-does-not-clear"),  # slopes 9, 9, 4, 4, 4, 0
        pytest.param([20, 24, 29, 33, 34, 36, 37, 43],
                     [None, None, "raise", None, None, "resolve", None, None],
                     id="under-the-raise-rate-after-a-clear"),  # ..., 3, 3, 7 (< 8)
        pytest.param([20, 24, 29, 33, 34, 36, 37, 45],
                     [None, None, "raise", None, None, "resolve", None, "raise"],
                     id="raises-again"),  # ..., 3, 3, 8
    ],
)
def test_rate_clear_ratio_hysteresis(values: list[float], expected: list[str | None]) -> None:
    eng = engine(RISE)  # clear_ratio 0.5: clears under 4 a minute
    got = [outcome(read(eng, "h302-heat", T0 + 30 * i, temperature=v))
           for i, v in enumerate(values)]
    assert got == expected


def test_rate_ignores_a_late_older_reading() -> None:
    eng = engine(RISE)
    read(eng, "h302-heat", T0, temperature=20)
    read(eng, "h302-heat", T0 + 30, temperature=24)
    assert eng.on_telemetry(telemetry("h302-heat", T0 + 15, temperature=0), T0 + 40) == []
    (decision,) = read(eng, "h302-heat", T0 + 60, temperature=29)
    assert isinstance(decision, Raise)
    assert decision.value == 9.0


def test_the_shipped_rate_of_rise_feeds_the_confirmed_fire() -> None:
    eng = engine(ship=("fire",))
    read(eng, "h302-smoke", T0, smoke=True)
    read(eng, "h302-heat", T0 + 10, temperature=20)
    read(eng, "h302-heat", T0 + 20, temperature=22)
    assert summary(read(eng, "h302-heat", T0 + 30, temperature=24)) == [
        ("raise", "heat_rising", "h1/f3/302"), ("raise", "fire_confirmed", "h1/f3")]


# ------------------------------------------------------------------ anomaly: own baseline

def anomaly(samples: int = 60, min_samples: int = 20) -> str:
    return pack(f"{{type: anomaly, metric: power_kw, z: 4, clear_z: 2, samples: {samples},"
                f" min_samples: {min_samples}}}", kinds="[power_meter]")


BASELINE = [9.0, 11.0] * 10
"""Twenty readings with mean 10 and (population) standard deviation 1: z = |x - 10|."""


def reference_z(history: list[float], value: float) -> float:
    """The z-score worked out independently of numpy."""
    spread = statistics.pstdev(history)
    return abs(value - statistics.fmean(history)) / spread


def feed(eng: RulesEngine, values: list[float], start: int = 0) -> list[str | None]:
    return [outcome(read(eng, "b2-meter", T0 + 60 * (start + i), power_kw=v))
            for i, v in enumerate(values)]


def test_the_baseline_by_hand() -> None:
    assert (statistics.fmean(BASELINE), statistics.pstdev(BASELINE)) == (10.0, 1.0)
    assert zscore(14.0, np.array(BASELINE)) == 4.0
    assert zscore(7.0, np.array(BASELINE)) == 3.0
    assert zscore(10.0, np.array([10.0] * 20)) is None
    assert zscore(10.5, np.array([10.0] * 20)) == float("inf")
    assert zscore(10.0, np.array([10.0])) is None


@pytest.mark.parametrize(
    ("value", "raised"),
    [
        pytest.param(14.0, True, id="z-4-exactly"),
        pytest.param(13.99, False, id="just-under"),
        pytest.param(6.0, True, id="below-the-mean-too"),
        pytest.param(6.01, False, id="just-under-below-the-mean"),
        pytest.param(100.0, True, id="far"),
    ],
)
def test_anomaly_raises_far_from_the_baseline(value: float, raised: bool) -> None:
    eng = engine(anomaly())
    assert feed(eng, BASELINE) == [None] * 20
    decisions = read(eng, "b2-meter", T0 + 3600, power_kw=value)
    assert summary(decisions) == ([("raise", "r1", "b2-meter")] if raised else [])
    if raised:
        assert isinstance(decisions[0], Raise)
        assert (decisions[0].value, decisions[0].metric) == (value, None)


@pytest.mark.parametrize(
    ("baseline", "raised"),
    [
        pytest.param(19, False, id="19-readings-are-no-baseline"),
        pytest.param(20, True, id="20-readings-are"),
    ],
)
def test_anomaly_says_nothing_before_min_samples(baseline: int, raised: bool) -> None:
    eng = engine(anomaly())
    feed(eng, BASELINE[:baseline])
    assert feed(eng, [1000.0], start=baseline) == (["raise"] if raised else [None])


def test_anomaly_a_constant_baseline_then_a_jump() -> None:
    eng = engine(anomaly())
    assert feed(eng, [10.0] * 21) == [None] * 21  # the same value is no anomaly at all
    assert feed(eng, [10.5, 10.0], start=21) == ["raise", "resolve"]


def test_anomaly_clear_z_hysteresis() -> None:
    eng = engine(anomaly())
    history = list(BASELINE)
    feed(eng, history)
    steps = [(14.0, "raise"), (13.0, None), (12.0, "resolve"), (13.5, None)]
    for i, (value, expected) in enumerate(steps):
        z = reference_z(history, value)
        # The table means: 14 is z 4; 13 is still over clear_z 2; 12 is under it; 13.5 is
        # between the two again, which neither raises nor clears.
        assert (z >= 4) if expected == "raise" else (z < 2 if expected == "resolve"
                                                     else 2 <= z < 4), (value, z)
        assert feed(eng, [value], start=20 + i) == [expected], (value, z)
        history.append(value)


def test_anomaly_the_baseline_rolls() -> None:
    eng = engine(anomaly(samples=5, min_samples=5))
    # [50, 10, 10, 10, 10] has mean 18 and deviation 16: 10 is z 0.5. Then 50 rolls out and
    # the baseline is five 10s: 10.5 is infinitely far.
    assert feed(eng, [50.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.5]) == [None] * 6 + ["raise"]


def test_anomaly_ignores_a_late_older_reading() -> None:
    eng = engine(anomaly())
    feed(eng, BASELINE)
    late = eng.on_telemetry(telemetry("b2-meter", T0, power_kw=1000), T0 + 3000)
    assert late == []
    # Had the late 1000 entered the baseline, 14 would be nowhere near z 4.
    assert feed(eng, [14.0], start=60) == ["raise"]


# ------------------------------------------------------------------ inactivity with between

# no_activity_daytime (shipped): motion sensors and door contacts, residents only, 07:00-22:00
# local, 4 h without `occupancy: true` or `contact: false`, about the home.
QUIET = "no_activity_daytime"


def quiet_homes(decisions: list[Decision]) -> list[tuple[str, str]]:
    return [(kind, subject) for kind, _, subject in summary(decisions, QUIET)]


@pytest.mark.parametrize(
    ("tick", "raised"),
    [
        pytest.param("10:59:59", [], id="before"),
        pytest.param("11:00", [HOME, UPSTAIRS], id="four-hours-after-the-window-opened"),
    ],
)
def test_quiet_time_counts_from_the_window_opening(tick: str, raised: list[str]) -> None:
    """The engine starts at 05:00, when 301 was last active: both before 07:00."""
    eng = engine(ship=("elderly_care",), only=(QUIET,), started=at(0, "05:00"))
    read(eng, "h301-hall", at(0, "05:00"), occupancy=True)
    assert eng.tick(at(0, "06:59")) == []
    assert eng.tick(at(0, "07:00")) == []
    assert sorted(s for _, s in quiet_homes(eng.tick(at(0, tick)))) == raised


def test_quiet_inside_the_window_raises_once_and_activity_resolves() -> None:
    eng = engine(ship=("elderly_care",), only=(QUIET,))
    assert read(eng, "h301-hall", at(0, "08:00"), occupancy=True) == []
    read(eng, "h401-motion", at(0, "10:00"), occupancy=True)
    assert eng.tick(at(0, "11:59:59")) == []
    (decision,) = eng.tick(at(0, "12:00"))
    assert isinstance(decision, Raise)
    assert (decision.rule.id, decision.subject.id, decision.value) == (QUIET, HOME, 4 * 3600)
    assert eng.tick(at(0, "12:00:01")) == []
    assert eng.tick(at(0, "13:30")) == []
    assert quiet_homes(read(eng, "h301-door", at(0, "13:40"), contact=False)) == [
        ("resolve", HOME)]
    assert eng.tick(at(0, "13:41")) == []  # 401 was active at 10:00; raised at 14:00
    assert quiet_homes(eng.tick(at(0, "14:00"))) == [("raise", UPSTAIRS)]
    assert eng.tick(at(0, "17:39:59")) == []
    assert quiet_homes(eng.tick(at(0, "17:40"))) == [("raise", HOME)]


@pytest.mark.parametrize(
    ("device", "values", "counts"),
    [
        pytest.param("h301-bath", {"occupancy": True}, True, id="motion"),
        pytest.param("h301-bath", {"occupancy": False}, False, id="no-motion"),
        pytest.param("h301-door", {"contact": False}, True, id="door-opened"),
        pytest.param("h301-door", {"contact": True}, False, id="door-closed"),
        pytest.param("h301-door", {"battery": 80}, False, id="a-battery-report"),
        pytest.param("h302-bath", {"occupancy": True}, False, id="next-door-home"),
        pytest.param("h1-f3-motion", {"occupancy": True}, False, id="the-landing"),
    ],
)
def test_what_counts_as_a_sign_of_life(device: str, values: dict[str, float], counts: bool
                                       ) -> None:
    eng = engine(ship=("elderly_care",), only=(QUIET,))
    read(eng, device, at(0, "09:00"), **values)
    expected = [] if counts else [("raise", HOME)]
    assert [d for d in quiet_homes(eng.tick(at(0, "11:00"))) if d[1] == HOME] == expected


def test_residents_only_watches_the_residents_homes() -> None:
    eng = engine(ship=("elderly_care",), only=(QUIET,))
    raised = quiet_homes(eng.tick(at(0, "11:00")) + eng.tick(at(1, "11:00")))
    assert sorted(raised) == [("raise", HOME), ("raise", UPSTAIRS)]


def test_outside_the_window_nothing() -> None:
    eng = engine(ship=("elderly_care",), only=(QUIET,), started=at(0, "22:30"))
    for day, clock in [(0, "23:59"), (1, "03:00"), (1, "06:59:59"), (1, "07:00"),
                       (1, "10:59:59")]:
        assert eng.tick(at(day, clock)) == [], (day, clock)
    assert len(quiet_homes(eng.tick(at(1, "11:00")))) == 2


def test_quiet_time_across_the_window_end_starts_again_next_morning() -> None:
    eng = engine(ship=("elderly_care",), only=(QUIET,))
    read(eng, "h301-hall", at(0, "18:00"), occupancy=True)
    read(eng, "h401-motion", at(0, "18:00"), occupancy=True)
    assert eng.tick(at(0, "21:59:59")) == []
    assert eng.tick(at(0, "22:00")) == []  # four hours, but the window has closed
    assert eng.tick(at(1, "02:00")) == []
    assert eng.tick(at(1, "07:00")) == []
    assert eng.tick(at(1, "10:59:59")) == []
    assert len(quiet_homes(eng.tick(at(1, "11:00")))) == 2


def test_inactivity_a_clock_stepping_back_does_not_raise_early() -> None:
    eng = engine(ship=("elderly_care",), only=(QUIET,))
    read(eng, "h301-hall", at(0, "09:00"), occupancy=True)
    read(eng, "h401-motion", at(0, "09:00"), occupancy=True)
    assert eng.tick(at(0, "08:00")) == []
    assert eng.tick(at(0, "12:59:59")) == []
    assert len(quiet_homes(eng.tick(at(0, "13:00")))) == 2


NIGHT_QUIET = pack("{type: inactivity, activity: {occupancy: true}, for: 2h}",
                   kinds="[motion_sensor]", subject="unit", residents_only=True,
                   between='["22:00", "06:00"]')


@pytest.mark.parametrize(
    ("started", "activity", "quiet", "raised_at"),
    [
        pytest.param((0, "20:00"), (0, "21:00"), [(0, "22:00"), (0, "23:59:59")], (1, "00:00"),
                     id="counted-from-22-across-midnight"),
        pytest.param((0, "20:00"), (0, "23:30"), [(1, "00:00"), (1, "01:29:59")], (1, "01:30"),
                     id="inside-the-window"),
        pytest.param((1, "04:00"), (1, "05:00"),
                     [(1, "05:59:59"), (1, "07:00"), (1, "12:00"), (1, "23:59:59")],
                     (2, "00:00"), id="the-window-closes-first"),
    ],
)
def test_inactivity_window_crossing_midnight(
    started: tuple[int, str], activity: tuple[int, str], quiet: list[tuple[int, str]],
    raised_at: tuple[int, str]
) -> None:
    """Two hours without motion between 22:00 and 06:00 (a custom rule)."""
    eng = engine(NIGHT_QUIET, started=at(*started))
    read(eng, "h301-hall", at(*activity), occupancy=True)
    read(eng, "h401-motion", at(*activity), occupancy=True)
    for moment in quiet:
        assert eng.tick(at(*moment)) == [], moment
    assert sorted(d.subject.id for d in raises(eng.tick(at(*raised_at)))) == [HOME, UPSTAIRS]


# ------------------------------------------------------------------ state_at

# not_up_by_morning (shipped): bed sensor, residents only, in_bed true at 09:30, about the home.
BED = "not_up_by_morning"


@pytest.mark.parametrize(
    ("in_bed", "ticks", "raised_at"),
    [
        pytest.param(True, ["09:00", "09:29:59", "09:30", "09:31", "12:00"], "09:30",
                     id="still-in-bed"),
        pytest.param(False, ["09:00", "09:30", "12:00"], None, id="up"),
        pytest.param(None, ["09:00", "09:30", "12:00"], None, id="no-reading"),
        pytest.param(True, ["08:00", "13:00", "13:01"], "13:00", id="a-tick-jumping-past"),
        pytest.param(True, ["09:30:00", "09:30:00", "09:30:01"], "09:30:00",
                     id="the-same-instant-twice"),
    ],
)
def test_state_at_checks_once_at_the_time(in_bed: bool | None, ticks: list[str],
                                          raised_at: str | None) -> None:
    eng = engine(ship=("elderly_care",), only=(BED,))
    if in_bed is not None:
        read(eng, "h301-bed", at(0, "07:00"), in_bed=in_bed)
    raised = []
    for clock in ticks:
        decisions = eng.tick(at(0, clock))
        raised += [(clock, d.subject.id, d.metric, d.value) for d in raises(decisions)]
    assert raised == ([] if raised_at is None else [(raised_at, HOME, "in_bed", 1.0)])


def test_state_at_clears_when_the_value_changes_and_checks_again_next_day() -> None:
    eng = engine(ship=("elderly_care",), only=(BED,))
    read(eng, "h301-bed", at(0, "07:00"), in_bed=True)
    assert summary(eng.tick(at(0, "09:30"))) == [("raise", BED, HOME)]
    assert read(eng, "h301-bed", at(0, "09:40"), in_bed=True, heart_rate=70) == []
    assert summary(read(eng, "h301-bed", at(0, "09:45"), in_bed=False)) == [
        ("resolve", BED, HOME)]
    assert read(eng, "h301-bed", at(0, "22:00"), in_bed=True) == []
    assert eng.tick(at(0, "23:00")) == []
    assert eng.tick(at(1, "09:29")) == []
    assert summary(eng.tick(at(1, "09:30"))) == [("raise", BED, HOME)]


def test_state_at_an_alert_still_active_next_day_is_not_raised_again() -> None:
    eng = engine(ship=("elderly_care",), only=(BED,))
    read(eng, "h301-bed", at(0, "07:00"), in_bed=True)
    assert len(eng.tick(at(0, "09:30"))) == 1
    read(eng, "h301-bed", at(0, "20:00"), in_bed=True)
    assert eng.tick(at(1, "09:30")) == []


def test_state_at_a_reading_of_another_metric_does_not_change_the_state() -> None:
    eng = engine(ship=("elderly_care",), only=(BED,))
    read(eng, "h301-bed", at(0, "07:00"), in_bed=True)
    read(eng, "h301-bed", at(0, "09:00"), heart_rate=72)
    assert summary(eng.tick(at(0, "09:30"))) == [("raise", BED, HOME)]


def test_state_at_residents_only() -> None:
    eng = engine(ship=("elderly_care",), only=(BED,))
    for bed in ("h301-bed", "h302-bed", "h401-bed"):
        read(eng, bed, at(0, "07:00"), in_bed=True)
    assert sorted(d.subject.id for d in raises(eng.tick(at(0, "09:30")))) == [HOME, UPSTAIRS]


def test_state_at_an_engine_started_after_the_time_waits_for_tomorrow() -> None:
    eng = engine(ship=("elderly_care",), only=(BED,), started=at(0, "10:00"))
    read(eng, "h301-bed", at(0, "10:01"), in_bed=True)
    assert eng.tick(at(0, "10:02")) == []
    assert eng.tick(at(1, "09:29:59")) == []
    assert summary(eng.tick(at(1, "09:30"))) == [("raise", BED, HOME)]


def test_state_at_a_clock_stepping_back_raises_nothing_new() -> None:
    eng = engine(ship=("elderly_care",), only=(BED,))
    read(eng, "h301-bed", at(0, "07:00"), in_bed=True)
    assert len(eng.tick(at(0, "09:30"))) == 1
    assert eng.tick(at(0, "09:00")) == []
    assert eng.tick(at(0, "09:30")) == []  # passed again, but the alert is still active
    assert eng.tick(at(0, "10:00")) == []


# ------------------------------------------------------------------ events

def event(eng: RulesEngine, device: str, now: float, kind: str) -> list[Decision]:
    return eng.on_event(DeviceEvent(device, now, kind), now)


def test_a_single_event_raises_and_stays_until_forgotten() -> None:
    eng = engine(ship=("elderly_care",))
    decisions = event(eng, "h301-sos", T0, "sos")
    assert summary(decisions) == [("raise", "sos_pressed", HOME)]
    assert isinstance(decisions[0], Raise)
    assert (decisions[0].device_id, decisions[0].metric, decisions[0].value) == (
        "h301-sos", None, 1.0)
    assert event(eng, "h301-sos", T0 + 5, "sos") == []
    assert event(eng, "h301-band", T0 + 6, "sos") == []  # the same home, the same alert
    # No clear_after: only a person clears it.
    assert summary(eng.tick(T0 + 7 * 86_400), "sos_pressed") == []
    assert eng.firing_devices("sos_pressed", HOME) == {"h301-sos", "h301-band"}

    eng.forget("sos_pressed", "h1/f3/302")  # another home: nothing changes
    assert event(eng, "h301-sos", T0 + 8, "sos") == []
    eng.forget("sos_pressed", HOME)
    assert eng.firing_devices("sos_pressed", HOME) == frozenset()
    assert summary(event(eng, "h301-band", T0 + 9, "sos")) == [("raise", "sos_pressed", HOME)]


def test_an_event_of_another_type_or_kind_is_not_the_rule() -> None:
    eng = engine(ship=("elderly_care",))
    assert summary(event(eng, "h301-band", T0, "fall")) == [("raise", "fall_detected", HOME)]
    assert event(eng, "h301-smoke", T0, "test") == []


INTRUSION = "intrusion_repeated"
"""Shipped: three intrusions by one camera within 5m; clears itself 15m after the last."""


@pytest.mark.parametrize(
    ("times", "raised_at"),
    [
        pytest.param([0, 100, 300], 300, id="three-within-exactly-5m"),
        pytest.param([0, 100, 300.5], None, id="first-just-outside"),
        pytest.param([0, 100, 301, 350], 350, id="a-later-three"),
        pytest.param([0, 200, 400, 600, 800], None, id="spread-out"),
        pytest.param([0, 1, 2, 3, 4], 2, id="raised-once"),
        pytest.param([0, 1], None, id="two"),
    ],
)
def test_event_count_within(times: list[float], raised_at: float | None) -> None:
    eng = engine(ship=("video",), only=(INTRUSION,))
    raised = []
    for t in times:
        raised += [(t, d.value) for d in raises(event(eng, "b2-cam01", T0 + t, "intrusion"))]
    assert raised == ([] if raised_at is None else [(raised_at, 3.0)])


def test_event_clear_after_via_tick() -> None:
    eng = engine(ship=("video",), only=("camera_tamper",))  # clear_after 30m
    assert summary(event(eng, "b2-cam01", T0, "tamper")) == [
        ("raise", "camera_tamper", "b2-cam01")]
    assert event(eng, "b2-cam01", T0 + 1000, "tamper") == []
    assert eng.tick(T0 + 1000 + 1799) == []  # counted from the latest event
    assert summary(eng.tick(T0 + 2800)) == [("resolve", "camera_tamper", "b2-cam01")]
    assert eng.tick(T0 + 2801) == []
    assert summary(event(eng, "b2-cam01", T0 + 2900, "tamper")) == [
        ("raise", "camera_tamper", "b2-cam01")]


def test_event_count_clears_after_the_last_event() -> None:
    eng = engine(ship=("video",), only=(INTRUSION,))
    for t in (0, 100, 200):
        event(eng, "b2-cam02", T0 + t, "intrusion")
    event(eng, "b2-cam02", T0 + 400, "intrusion")
    assert eng.tick(T0 + 400 + 899) == []
    assert summary(eng.tick(T0 + 1300)) == [("resolve", INTRUSION, "b2-cam02")]
    # The count starts afresh: one more intrusion is not three.
    assert event(eng, "b2-cam02", T0 + 1301, "intrusion") == []


def test_a_count_that_never_raised_resolves_nothing() -> None:
    eng = engine(ship=("video",), only=(INTRUSION,))
    event(eng, "b2-cam03", T0, "intrusion")
    event(eng, "b2-cam03", T0 + 10, "intrusion")
    assert eng.tick(T0 + 2000) == []


def test_after_forget_the_count_starts_again() -> None:
    eng = engine(ship=("video",), only=(INTRUSION,))
    for t in (0, 10, 20):
        event(eng, "b2-cam04", T0 + t, "intrusion")
    eng.forget("intrusion_repeated", "b2-cam04")
    assert event(eng, "b2-cam04", T0 + 30, "intrusion") == []
    assert event(eng, "b2-cam04", T0 + 40, "intrusion") == []
    assert summary(event(eng, "b2-cam04", T0 + 50, "intrusion")) == [
        ("raise", INTRUSION, "b2-cam04")]


# ------------------------------------------------------------------ correlation: min_devices

# fire_confirmed (shipped): smoke_alarm / heat_high / heat_rising, 2 devices within 2m, floor.
FLOOR = "h1/f3"


def confirmed(decisions: list[Decision]) -> list[str]:
    return [kind for kind, _, _ in summary(decisions, "fire_confirmed")]


@pytest.mark.parametrize(
    ("second_at", "raised"),
    [
        pytest.param(60, True, id="inside"),
        pytest.param(120, True, id="exactly-2m"),
        pytest.param(120.5, False, id="just-outside"),
    ],
)
def test_two_detectors_on_a_floor_confirm_a_fire(second_at: float, raised: bool) -> None:
    eng = engine(ship=("fire",))
    assert summary(read(eng, "h301-smoke", T0, smoke=True)) == [("raise", "smoke_alarm", HOME)]
    decisions = read(eng, "h302-smoke", T0 + second_at, smoke=True)
    assert summary(decisions, "smoke_alarm") == [("raise", "smoke_alarm", "h1/f3/302")]
    assert confirmed(decisions) == (["raise"] if raised else [])
    if raised:
        (fire,) = [d for d in decisions if d.rule.id == "fire_confirmed"]
        assert isinstance(fire, Raise)
        assert (fire.subject.id, fire.device_id, fire.value) == (FLOOR, "h302-smoke", 2.0)


def test_different_kinds_confirm_a_fire() -> None:
    eng = engine(ship=("fire",))
    read(eng, "h301-smoke", T0, smoke=True)
    assert read(eng, "h302-heat", T0 + 30, temperature=60) == []  # heat_high holds 10 s
    assert summary(eng.tick(T0 + 40)) == [("raise", "heat_high", "h1/f3/302"),
                                          ("raise", "fire_confirmed", FLOOR)]


def test_detectors_on_different_floors_do_not_confirm() -> None:
    eng = engine(ship=("fire",))
    read(eng, "h301-smoke", T0, smoke=True)
    assert confirmed(read(eng, "h401-smoke", T0 + 1, smoke=True)) == []


def test_a_second_device_joining_a_raised_home_alert_counts() -> None:
    eng = engine(ship=("fire",))
    read(eng, "h302-smoke", T0, smoke=True)
    assert summary(read(eng, "h302-smoke2", T0 + 30, smoke=True)) == [
        ("raise", "fire_confirmed", FLOOR)]


def test_the_window_counts_from_each_source_start() -> None:
    eng = engine(ship=("fire",))
    read(eng, "h301-smoke", T0, smoke=True)
    assert confirmed(read(eng, "h302-smoke", T0 + 200, smoke=True)) == []
    # The 301 detector is too old, but the 302 one and a new one agree.
    assert confirmed(read(eng, "h302-smoke2", T0 + 250, smoke=True)) == ["raise"]


def test_a_confirmed_fire_clears_when_every_source_clears() -> None:
    eng = engine(ship=("fire",))
    read(eng, "h301-smoke", T0, smoke=True)
    read(eng, "h302-smoke", T0 + 10, smoke=True)
    assert confirmed(read(eng, "h302-smoke2", T0 + 20, smoke=True)) == []  # a third: no repeat
    assert eng.firing_devices("fire_confirmed", FLOOR) == {
        "h301-smoke", "h302-smoke", "h302-smoke2"}
    assert summary(read(eng, "h301-smoke", T0 + 30, smoke=False)) == [
        ("resolve", "smoke_alarm", HOME)]
    assert read(eng, "h302-smoke", T0 + 40, smoke=False) == []
    assert summary(read(eng, "h302-smoke2", T0 + 50, smoke=False)) == [
        ("resolve", "smoke_alarm", "h1/f3/302"), ("resolve", "fire_confirmed", FLOOR)]
    # Afterwards one detector alone confirms nothing.
    assert confirmed(read(eng, "h302-smoke", T0 + 60, smoke=True)) == []


# ------------------------------------------------------------------ correlation: share

# building_outage (shipped): camera_offline / meter_offline, share 0.3 of the cameras, NVRs
# and meters of the building, at least 3 devices. b2 has 10 cameras, 1 NVR, 1 meter (12).
OUTAGE = "building_outage"


def go_offline(eng: RulesEngine, devices: list[str], now: float) -> list[Decision]:
    for device in devices:
        eng.on_availability(Availability(device, now, online=False), now)
    return eng.tick(now + 60)  # camera_offline and meter_offline settle 60 s


def cameras(n: int, building: str = "b2") -> list[str]:
    return [f"{building}-cam{i:02d}" for i in range(1, n + 1)]


@pytest.mark.parametrize(
    ("devices", "raised"),
    [
        pytest.param(cameras(3), False, id="3-of-12"),
        pytest.param(cameras(4), True, id="4-of-12"),
        pytest.param([*cameras(3), "b2-meter"], True, id="the-meter-counts"),
        pytest.param([*cameras(3), "b2-nvr"], True, id="the-nvr-counts"),
        pytest.param(["b3-cam1", "b3-cam2"], False, id="all-of-2-is-under-min-devices"),
    ],
)
def test_building_outage_by_share(devices: list[str], raised: bool) -> None:
    eng = engine(ship=("video", "power"))
    decisions = go_offline(eng, devices, T0 + 10)
    assert len([d for d in decisions if d.rule.id in ("camera_offline", "meter_offline")]) == (
        len(devices))
    outages = [d for d in decisions if d.rule.id == OUTAGE]
    assert summary(outages) == ([("raise", OUTAGE, "b2")] if raised else [])
    if raised:
        assert isinstance(outages[0], Raise)
        assert outages[0].value == round(4 / 12, 3)


@pytest.mark.parametrize(
    ("offline", "raised"),
    [
        pytest.param(2, False, id="2-of-10"),
        pytest.param(3, True, id="exactly-the-share"),
    ],
)
def test_share_boundary(offline: int, raised: bool) -> None:
    eng = engine(pack("{type: correlate, rules: [camera_offline], share: 0.3}",
                      kinds="[camera]", subject="building", rule_id="cams_out"),
                 ship=("video",))
    decisions = go_offline(eng, cameras(offline), T0)
    assert summary(decisions, "cams_out") == ([("raise", "cams_out", "b2")] if raised else [])


def test_share_floor_of_min_devices() -> None:
    eng = engine(pack("{type: correlate, rules: [camera_offline], share: 0.1, min_devices: 3}",
                      kinds="[camera]", subject="building", rule_id="cams_out"),
                 ship=("video",))
    assert summary(go_offline(eng, cameras(2), T0), "cams_out") == []  # 20 % but 2 devices
    assert summary(go_offline(eng, ["b2-cam03"], T0 + 100), "cams_out") == [
        ("raise", "cams_out", "b2")]


def test_building_outage_resolves_when_the_share_falls_below() -> None:
    eng = engine(ship=("video", "power"))
    go_offline(eng, cameras(5), T0)
    back = eng.on_availability(Availability("b2-cam01", T0 + 100, online=True), T0 + 100)
    assert summary(back) == [("resolve", "camera_offline", "b2-cam01")]  # 4 of 12 still out
    back = eng.on_telemetry(telemetry("b2-cam02", T0 + 101, recording=True), T0 + 101)
    assert summary(back) == [("resolve", "camera_offline", "b2-cam02"),
                             ("resolve", OUTAGE, "b2")]


# ------------------------------------------------------------------ composite all / any / not

# heart_rate_abnormal (shipped): any of heart_rate above 120 / below 40, for 2m, the home.
HEART = "heart_rate_abnormal"


@pytest.mark.parametrize(
    ("steps", "raised_at"),
    [
        pytest.param([(0, 130), (119, None), (120, None)], 120, id="above-held"),
        pytest.param([(0, 35), (120, None)], 120, id="below-held"),
        pytest.param([(0, 40), (120, None)], 120, id="at-the-low-level"),
        pytest.param([(0, 41), (120, None)], None, id="normal"),
        pytest.param([(0, 130), (60, 80), (100, 130), (219, None), (220, None)], 220,
                     id="a-normal-reading-restarts-the-hold"),
        pytest.param([(0, 130), (60, 30), (120, None)], 120,
                     id="from-one-side-to-the-other-still-holds"),
    ],
)
def test_any_with_for(steps: list[tuple[float, float | None]], raised_at: float | None
                      ) -> None:
    """(t, value): a heart-rate reading at T0+t; (t, None): a tick."""
    eng = engine(ship=("elderly_care",))
    raised = []
    for t, value in steps:
        decisions = (eng.tick(T0 + t) if value is None
                     else read(eng, "h301-band", T0 + t, heart_rate=value))
        raised += [d.ts - T0 for d in raises(decisions) if d.rule.id == HEART]
    assert raised == ([] if raised_at is None else [raised_at])


def test_any_resolves_when_no_part_holds() -> None:
    eng = engine(ship=("elderly_care",))
    read(eng, "h301-bed", T0, heart_rate=130)
    assert summary(eng.tick(T0 + 120)) == [("raise", HEART, HOME)]
    assert read(eng, "h301-bed", T0 + 130, heart_rate=35) == []
    assert summary(read(eng, "h301-bed", T0 + 140, heart_rate=70)) == [
        ("resolve", HEART, HOME)]


HUMID_HEAT = pack("{type: all, of: [{metric: temperature, above: 40},"
                  " {metric: humidity, above: 80}], for: 60s}", kinds="[temp_humidity]")


@pytest.mark.parametrize(
    ("readings", "raised"),
    [
        pytest.param([{"temperature": 45, "humidity": 85}], True, id="both"),
        pytest.param([{"temperature": 45, "humidity": 70}], False, id="only-heat"),
        pytest.param([{"temperature": 30, "humidity": 85}], False, id="only-humidity"),
        pytest.param([{"temperature": 45}], False, id="humidity-never-reported"),
        pytest.param([{"temperature": 45}, {"humidity": 85}], True,
                     id="parts-from-separate-messages"),
    ],
)
def test_all_with_for(readings: list[dict[str, float]], raised: bool) -> None:
    eng = engine(HUMID_HEAT)
    for i, values in enumerate(readings):
        read(eng, "h301-climate", T0 + i, **values)
    last = T0 + len(readings) - 1
    assert eng.tick(last + 59) == []
    assert summary(eng.tick(last + 60)) == ([("raise", "r1", "h301-climate")] if raised else [])


def test_all_judges_a_message_as_a_whole() -> None:
    """(35 °C, 85 %) then (45 °C, 70 %): the engine must not see (45, 85), which never was."""
    eng = engine(pack("{type: all, of: [{metric: temperature, above: 40},"
                      " {metric: humidity, above: 80}]}", kinds="[temp_humidity]"))
    assert read(eng, "h301-climate", T0, temperature=35, humidity=85) == []
    assert read(eng, "h301-climate", T0 + 1, temperature=45, humidity=70) == []
    assert read(eng, "h301-climate", T0 + 2, humidity=70, temperature=45) == []
    assert summary(read(eng, "h301-climate", T0 + 3, temperature=45, humidity=85)) == [
        ("raise", "r1", "h301-climate")]
    assert summary(read(eng, "h301-climate", T0 + 4, temperature=35, humidity=90)) == [
        ("resolve", "r1", "h301-climate")]


def test_not_with_for() -> None:
    eng = engine(pack("{type: not, of: [{metric: recording, equals: true}], for: 30s}",
                      kinds="[camera]"))
    read(eng, "b2-cam01", T0, recording=True)
    assert eng.tick(T0 + 60) == []
    read(eng, "b2-cam01", T0 + 100, recording=False)
    assert eng.tick(T0 + 129) == []
    assert summary(eng.tick(T0 + 130)) == [("raise", "r1", "b2-cam01")]
    assert summary(read(eng, "b2-cam01", T0 + 140, recording=True)) == [
        ("resolve", "r1", "b2-cam01")]


@pytest.mark.parametrize(
    ("values", "holds"),
    [
        pytest.param({"temperature": 35, "humidity": 95}, True, id="hot-and-wet"),
        pytest.param({"temperature": 35, "humidity": 5}, True, id="hot-and-dry"),
        pytest.param({"temperature": 35, "humidity": 50}, False, id="hot-only"),
        pytest.param({"temperature": 25, "humidity": 95}, False, id="wet-only"),
    ],
)
def test_nested_groups(values: dict[str, float], holds: bool) -> None:
    eng = engine(pack("{type: all, of: [{metric: temperature, above: 30},"
                      " {any: [{metric: humidity, above: 90}, {metric: humidity, below: 10}]}]}",
                      kinds="[temp_humidity]"))
    decisions = read(eng, "h301-climate", T0, **values)
    assert summary(decisions) == ([("raise", "r1", "h301-climate")] if holds else [])


# ------------------------------------------------------------------ rooms, residents, between

# bathroom_too_long (shipped): motion sensors in bathrooms of residents' homes, 45 min.


@pytest.mark.parametrize(
    ("device", "raised"),
    [
        pytest.param("h301-bath", True, id="residents-bathroom"),
        pytest.param("h301-hall", False, id="residents-hall"),
        pytest.param("h302-bath", False, id="bathroom-without-resident"),
        pytest.param("h1-f3-motion", False, id="landing"),
    ],
)
def test_rooms_and_residents_only(device: str, raised: bool) -> None:
    eng = engine(ship=("elderly_care",))
    read(eng, device, T0, occupancy=True)
    assert summary(eng.tick(T0 + 45 * 60 - 1), "bathroom_too_long") == []
    assert summary(eng.tick(T0 + 45 * 60), "bathroom_too_long") == (
        [("raise", "bathroom_too_long", HOME)] if raised else [])


def test_residents_only_threshold_with_between() -> None:
    """door_open_at_night (shipped): a resident's door open 10 min at night. A door left open
    since the afternoon is still a door open at night: it raises when the window opens."""
    eng = engine(ship=("elderly_care",))
    read(eng, "h301-door", at(0, "12:00"), contact=False)
    read(eng, "h302-door", at(0, "12:00"), contact=False)   # no resident: never
    night = "door_open_at_night"
    assert summary(eng.tick(at(0, "12:10")), night) == []
    assert summary(eng.tick(at(0, "21:59:59")), night) == []
    assert summary(eng.tick(at(0, "22:00")), night) == [("raise", night, HOME)]


def test_a_door_opened_at_night_raises_after_its_hold() -> None:
    eng = engine(ship=("elderly_care",))
    night = "door_open_at_night"
    read(eng, "h301-door", at(0, "22:30"), contact=False)
    assert summary(eng.tick(at(0, "22:39:59")), night) == []
    assert summary(eng.tick(at(0, "22:40")), night) == [("raise", night, HOME)]


HEAT_BY_DAY = pack("{type: threshold, metric: temperature, above: 57}",
                   kinds="[heat_detector]", between='["08:00", "18:00"]')


@pytest.mark.parametrize(
    ("clock", "raised"),
    [
        pytest.param("07:59:59", False, id="before"),
        pytest.param("08:00", True, id="at-the-start"),
        pytest.param("17:59:59", True, id="before-the-end"),
        pytest.param("18:00", False, id="at-the-end"),
        pytest.param("23:00", False, id="night"),
    ],
)
def test_between_on_a_threshold(clock: str, raised: bool) -> None:
    eng = engine(HEAT_BY_DAY, started=at(0, "00:00"))
    decisions = read(eng, "h302-heat", at(0, clock), temperature=60)
    assert summary(decisions) == ([("raise", "r1", "h302-heat")] if raised else [])


def test_between_a_reading_inside_the_window_raises_a_condition_that_began_outside() -> None:
    eng = engine(HEAT_BY_DAY, started=at(0, "00:00"))
    assert read(eng, "h302-heat", at(0, "07:00"), temperature=60) == []
    assert summary(read(eng, "h302-heat", at(0, "08:01"), temperature=60)) == [
        ("raise", "r1", "h302-heat")]


def test_between_on_an_event() -> None:
    eng = engine(pack("{type: event, event: sos}", kinds="[sos_button]",
                      between='["08:00", "20:00"]'), started=at(0, "00:00"))
    assert event(eng, "h301-sos", at(0, "21:00"), "sos") == []
    assert summary(event(eng, "h301-sos", at(1, "09:00"), "sos")) == [
        ("raise", "r1", "h301-sos")]


def test_a_resolve_is_a_resolve() -> None:
    """The decision types the tables above compare by name."""
    eng = engine(ship=("gas",))
    read(eng, "h301-gas", T0, gas_lel=25)
    (decision,) = read(eng, "h301-gas", T0 + 1, gas_lel=5)
    assert isinstance(decision, Resolve)
    assert (decision.rule.id, decision.subject.id, decision.device_id, decision.ts) == (
        "gas_leak", HOME, "h301-gas", T0 + 1)

