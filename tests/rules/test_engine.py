"""The rules engine against the test site: readings and time in, Raise / Resolve out."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from devices.messages import Availability, DeviceEvent, DeviceMessage, Telemetry
from devices.site import Site, load_site
from hub.config import BUILTIN_PACKS
from rules.engine import Decision, Raise, Resolve, RulesEngine, subject_of
from rules.schema import Rule, check_unique, load_pack

SITE_FILE = Path(__file__).parents[1] / "data" / "site.yaml"
SITE: Site = load_site(SITE_FILE.read_text(encoding="utf-8"), str(SITE_FILE))
T0 = 1_750_000_000.0
"""When the engine starts in every test."""


def shipped_rules() -> list[Rule]:
    packs = resources.files("rules.packs")
    rules = [rule
             for name in BUILTIN_PACKS
             for rule in load_pack(packs.joinpath(f"{name}.yaml").read_text(encoding="utf-8"),
                                   f"rules/packs/{name}.yaml")]
    check_unique(rules)
    return rules


def pack(*, kinds: str, condition: str, subject: str = "device", rule_id: str = "r1") -> str:
    return (
        "pack: test\n"
        "rules:\n"
        f"  - id: {rule_id}\n"
        "    category: fire\n"
        "    severity: major\n"
        f"    kinds: {kinds}\n"
        f"    subject: {subject}\n"
        "    message: {zh: 测试, en: test}\n"
        f"    condition: {condition}\n"
    )


def engine(*packs: str, shipped: bool = False, started: float = T0) -> RulesEngine:
    rules = shipped_rules() if shipped else []
    for i, text in enumerate(packs):
        rules += load_pack(text, f"test{i}.yaml")
    return RulesEngine(SITE, rules, started=started)


def telemetry(device: str, ts: float, **values: float | bool) -> Telemetry:
    return Telemetry(device, ts, tuple((name, float(v)) for name, v in values.items()))


def read(eng: RulesEngine, device: str, now: float, **values: float | bool) -> list[Decision]:
    """A reading taken and evaluated at `now`."""
    return eng.on_telemetry(telemetry(device, now, **values), now)


def summary(decisions: list[Decision]) -> list[tuple[str, str, str]]:
    """`("raise", rule id, subject id)` per decision, for readable asserts."""
    return [("raise" if isinstance(d, Raise) else "resolve", d.rule.id, d.subject.id)
            for d in decisions]


def deliver(eng: RulesEngine, message: DeviceMessage, now: float) -> list[Decision]:
    if isinstance(message, Telemetry):
        return eng.on_telemetry(message, now)
    if isinstance(message, DeviceEvent):
        return eng.on_event(message, now)
    return eng.on_availability(message, now)


# ------------------------------------------------------------------ thresholds

GAS_ABOVE_20 = pack(kinds="[gas_detector]",
                    condition="{type: threshold, metric: gas_lel, above: 20}")
PUMP_BELOW_03 = pack(kinds="[fire_pump]",
                     condition="{type: threshold, metric: pressure_mpa, below: 0.3}")


@pytest.mark.parametrize(
    ("rules", "device", "metric", "value", "raised"),
    [
        pytest.param(GAS_ABOVE_20, "b1-101-gas", "gas_lel", 19.99, False, id="above-just-under"),
        pytest.param(GAS_ABOVE_20, "b1-101-gas", "gas_lel", 20.0, True, id="above-at-level"),
        pytest.param(GAS_ABOVE_20, "b1-101-gas", "gas_lel", 80.0, True, id="above-over"),
        pytest.param(PUMP_BELOW_03, "b1-pump", "pressure_mpa", 0.31, False,
                     id="below-just-over"),
        pytest.param(PUMP_BELOW_03, "b1-pump", "pressure_mpa", 0.3, True, id="below-at-level"),
        pytest.param(PUMP_BELOW_03, "b1-pump", "pressure_mpa", 0.0, True, id="below-under"),
    ],
)
def test_threshold_fires_at_the_level(
    rules: str, device: str, metric: str, value: float, raised: bool
) -> None:
    eng = engine(rules)
    decisions = read(eng, device, T0 + 1, **{metric: value})
    assert summary(decisions) == ([("raise", "r1", device)] if raised else [])
    if raised:
        (decision,) = decisions
        assert isinstance(decision, Raise)
        assert (decision.ts, decision.device_id, decision.metric, decision.value) == (
            T0 + 1, device, metric, value)


def test_the_raise_carries_the_rule_and_place() -> None:
    (decision,) = read(engine(shipped=True), "b1-101-gas", T0, gas_lel=35)
    assert isinstance(decision, Raise)
    assert decision.rule.id == "gas_leak"
    assert decision.subject.place == SITE.devices["b1-101-gas"].place


@pytest.mark.parametrize(
    ("device", "metric", "steps"),
    [
        pytest.param("b1-101-gas", "gas_lel",
                     [(25, "raise"), (15, None), (10, None), (20, None), (9.99, "resolve")],
                     id="gas-clears-below-10"),
        pytest.param("b1-101-gas", "gas_lel",
                     [(5, None), (15, None), (19.9, None), (20, "raise"), (9, "resolve"),
                      (15, None), (21, "raise")],
                     id="gas-band-does-not-raise"),
        pytest.param("b1-101-smoke", "smoke",
                     [(True, "raise"), (True, None), (False, "resolve"), (False, None)],
                     id="smoke-without-clear-level"),
    ],
)
def test_hysteresis_with_the_shipped_rules(
    device: str, metric: str, steps: list[tuple[float, str | None]]
) -> None:
    """Between the clear level and the level the alert stays as it is."""
    eng = engine(shipped=True)
    for i, (value, expected) in enumerate(steps):
        kinds = [kind for kind, _, _ in summary(read(eng, device, T0 + i, **{metric: value}))]
        assert kinds == ([expected] if expected else []), f"step {i}: {metric}={value}"


def test_pump_pressure_hysteresis_after_the_hold() -> None:
    eng = engine(shipped=True)
    assert read(eng, "b1-pump", T0, pressure_mpa=0.2) == []
    assert summary(eng.tick(T0 + 30)) == [("raise", "fire_pump_pressure_low", "b1")]
    assert read(eng, "b1-pump", T0 + 40, pressure_mpa=0.33) == []
    assert read(eng, "b1-pump", T0 + 41, pressure_mpa=0.35) == []
    assert summary(read(eng, "b1-pump", T0 + 42, pressure_mpa=0.36)) == [
        ("resolve", "fire_pump_pressure_low", "b1")]


# ------------------------------------------------------------------ for: hold

HEAT_HOLD = pack(kinds="[heat_detector]",
                 condition="{type: threshold, metric: temperature, above: 57, clear_below: 50,"
                           " for: 10s}")


@pytest.mark.parametrize(
    ("steps", "raised_at"),
    [
        pytest.param([(0, 60.0), (9.9, None)], None, id="tick-before-the-hold"),
        pytest.param([(0, 60.0), (10, None)], 10, id="tick-at-the-hold"),
        pytest.param([(0, 60.0), (5, 70.0), (9.9, 80.0)], None, id="readings-before-the-hold"),
        pytest.param([(0, 60.0), (10, 61.0)], 10, id="later-reading-after-the-hold"),
        pytest.param([(0, 60.0), (5, 40.0), (10, None), (20, None)], None, id="dip-resets"),
        pytest.param([(0, 60.0), (5, 55.0), (10, None)], None,
                     id="dip-into-the-hysteresis-band-resets"),
        pytest.param([(0, 60.0), (5, 40.0), (6, 60.0), (15.9, None), (16, None)], 16,
                     id="hold-starts-again-after-a-dip"),
        pytest.param([(0, 60.0), (10, None), (11, 58.0), (30, None)], 10,
                     id="raised-once"),
    ],
)
def test_for_holds_the_condition(
    steps: list[tuple[float, float | None]], raised_at: float | None
) -> None:
    """(t, value) is a reading at T0+t; (t, None) a tick at T0+t."""
    eng = engine(HEAT_HOLD)
    raises: list[float] = []
    for t, value in steps:
        now = T0 + t
        decisions = eng.tick(now) if value is None else read(eng, "b1-101-heat", now,
                                                             temperature=value)
        raises += [d.ts - T0 for d in decisions if isinstance(d, Raise)]
    assert raises == ([] if raised_at is None else [raised_at])


def test_a_held_raise_reports_the_latest_value() -> None:
    eng = engine(HEAT_HOLD)
    read(eng, "b1-101-heat", T0, temperature=58)
    read(eng, "b1-101-heat", T0 + 4, temperature=66)
    (decision,) = eng.tick(T0 + 10)
    assert isinstance(decision, Raise)
    assert (decision.metric, decision.value, decision.device_id) == (
        "temperature", 66.0, "b1-101-heat")


# ------------------------------------------------------------------ subjects


def test_two_smoke_detectors_in_one_unit_raise_one_alert() -> None:
    eng = engine(shipped=True)
    assert summary(read(eng, "b1-101-smoke", T0 + 1, smoke=True)) == [
        ("raise", "smoke_alarm", "b1/f1/101")]
    # No second smoke alert about the home; but two detectors agreeing confirm the fire.
    assert summary(read(eng, "b1-101-smoke2", T0 + 2, smoke=True)) == [
        ("raise", "fire_confirmed", "b1/f1")]
    assert eng.firing_devices("smoke_alarm", "b1/f1/101") == {"b1-101-smoke", "b1-101-smoke2"}

    assert read(eng, "b1-101-smoke", T0 + 3, smoke=False) == []
    assert eng.firing_devices("smoke_alarm", "b1/f1/101") == {"b1-101-smoke2"}
    decisions = read(eng, "b1-101-smoke2", T0 + 4, smoke=False)
    assert summary(decisions) == [("resolve", "smoke_alarm", "b1/f1/101"),
                                  ("resolve", "fire_confirmed", "b1/f1")]
    assert isinstance(decisions[0], Resolve)
    assert (decisions[0].device_id, decisions[0].ts) == ("b1-101-smoke2", T0 + 4)
    assert eng.firing_devices("smoke_alarm", "b1/f1/101") == frozenset()


def test_a_detector_in_the_next_unit_raises_its_own_alert() -> None:
    eng = engine(shipped=True)
    read(eng, "b1-101-smoke", T0, smoke=True)
    # Its own alert about its home — and, two detectors on one floor, a confirmed fire.
    assert summary(read(eng, "b1-102-smoke", T0 + 1, smoke=True)) == [
        ("raise", "smoke_alarm", "b1/f1/102"), ("raise", "fire_confirmed", "b1/f1")]


SMOKE_AT = "{type: threshold, metric: smoke, above: 1}"


@pytest.mark.parametrize(
    ("subject", "devices", "raised_subjects"),
    [
        pytest.param("device", ["b1-101-smoke", "b1-101-smoke2"],
                     ["b1-101-smoke", "b1-101-smoke2"], id="device"),
        pytest.param("unit", ["b1-101-smoke", "b1-102-smoke", "b1-201-smoke"],
                     ["b1/f1/101", "b1/f1/102", "b1/f2/201"], id="unit"),
        pytest.param("floor", ["b1-101-smoke", "b1-101-smoke2", "b1-102-smoke",
                               "b1-201-smoke"],
                     ["b1/f1", "b1/f2"], id="floor"),
        pytest.param("building", ["b1-101-smoke", "b1-102-smoke", "b1-201-smoke"],
                     ["b1"], id="building"),
        pytest.param("grid", ["b1-101-smoke", "b1-201-smoke"], ["g1"], id="grid"),
    ],
)
def test_subject_level_groups_devices(
    subject: str, devices: list[str], raised_subjects: list[str]
) -> None:
    eng = engine(pack(kinds="[smoke_detector]", condition=SMOKE_AT, subject=subject))
    raised = []
    for i, device in enumerate(devices):
        raised += [d.subject.id for d in read(eng, device, T0 + i, smoke=True)]
    assert raised == raised_subjects


def test_a_floor_alert_resolves_when_its_last_device_clears() -> None:
    eng = engine(pack(kinds="[smoke_detector]", condition=SMOKE_AT, subject="floor"))
    read(eng, "b1-101-smoke", T0, smoke=True)
    read(eng, "b1-102-smoke", T0 + 1, smoke=True)
    assert read(eng, "b1-102-smoke", T0 + 2, smoke=False) == []
    assert summary(read(eng, "b1-101-smoke", T0 + 3, smoke=False)) == [
        ("resolve", "r1", "b1/f1")]


@pytest.mark.parametrize(
    ("subject", "device", "subject_id"),
    [
        pytest.param("device", "b1-101-smoke", "b1-101-smoke", id="device"),
        pytest.param("unit", "b1-101-smoke", "b1/f1/101", id="unit-of-unit-device"),
        pytest.param("floor", "b1-101-smoke", "b1/f1", id="floor-of-unit-device"),
        pytest.param("building", "b1-101-smoke", "b1", id="building-of-unit-device"),
        pytest.param("grid", "b1-101-smoke", "g1", id="grid-of-unit-device"),
        pytest.param("unit", "b1-f1-cam", "b1/f1", id="floor-device-in-unit-rule"),
        pytest.param("unit", "b1-pump", "b1", id="building-device-in-unit-rule"),
        pytest.param("floor", "g1-flood", "g1", id="grid-device-in-floor-rule"),
        pytest.param("building", "b1-pump", "b1", id="building-device-in-building-rule"),
    ],
)
def test_subject_of(subject: str, device: str, subject_id: str) -> None:
    kind = SITE.devices[device].kind.name
    metric = next(iter(SITE.devices[device].kind.metrics))
    (rule,) = load_pack(pack(kinds=f"[{kind}]", subject=subject,
                             condition=f"{{type: threshold, metric: {metric}, above: 1}}"),
                        "test.yaml")
    found = subject_of(rule, SITE.devices[device])
    assert (found.level.value, found.id) == (subject, subject_id)
    assert found.place == SITE.places.get(subject_id, SITE.devices[device].place)


# ------------------------------------------------------------------ dispatch

LOW_BATTERY = pack(kinds="[smoke_detector]",
                   condition="{type: threshold, metric: battery, below: 10}")


@pytest.mark.parametrize(
    ("device", "raised"),
    [
        pytest.param("b1-101-smoke", True, id="kind-in-rule"),
        pytest.param("b1-101-leak", False, id="water-leak-has-battery-too"),
        pytest.param("b1-102-motion", False, id="motion-has-battery-too"),
    ],
)
def test_only_the_rules_kinds_are_evaluated(device: str, raised: bool) -> None:
    eng = engine(LOW_BATTERY)
    decisions = read(eng, device, T0, battery=5)
    assert summary(decisions) == ([("raise", "r1", device)] if raised else [])


def test_metrics_without_rules_are_ignored() -> None:
    eng = engine(shipped=True)
    assert read(eng, "b1-101-smoke", T0, battery=1, smoke_density=99) == []
    assert read(eng, "b1-102-motion", T0, occupancy=True) == []


def test_every_device_reporting_normal_values_raises_nothing() -> None:
    normal = {"smoke": False, "smoke_density": 0, "battery": 90, "temperature": 22,
              "gas_lel": 0, "co_ppm": 0, "water_leak": False, "water_level_cm": 0,
              "occupancy": False, "pressure_mpa": 0.6, "running": False, "recording": True,
              "fps": 25, "disk_ok": True, "recording_channels": 8}
    eng = engine(shipped=True)
    for device_id, info in SITE.devices.items():
        values = {metric: normal[metric] for metric in info.kind.metrics}
        assert read(eng, device_id, T0 + 1, **values) == [], device_id
    assert eng.tick(T0 + 2) == []


# ------------------------------------------------------------------ offline

# camera_offline: missed_reports 3, settle 60 s. Cameras report every 60 s, NVRs every 300 s.
CAM_LATE_AFTER = 3 * 60
NVR_LATE_AFTER = 3 * 300


@pytest.mark.parametrize(
    ("tick_at", "raised"),
    [
        pytest.param(CAM_LATE_AFTER - 1, [], id="before"),
        pytest.param(CAM_LATE_AFTER, [], id="at-the-limit"),
        pytest.param(CAM_LATE_AFTER + 1, ["b1-f1-cam"], id="camera-late"),
        pytest.param(NVR_LATE_AFTER + 1, ["b1-f1-cam", "b1-nvr"], id="both-late"),
    ],
)
def test_offline_by_lateness(tick_at: float, raised: list[str]) -> None:
    eng = engine(shipped=True)
    decisions = eng.tick(T0 + tick_at)
    assert sorted(d.subject.id for d in decisions if isinstance(d, Raise)) == raised
    assert all(d.rule.id == "camera_offline" for d in decisions)
    assert all(isinstance(d, Raise) and d.metric is None and d.value is None
               for d in decisions)


def test_a_message_puts_lateness_off() -> None:
    eng = engine(shipped=True)
    eng.on_event(DeviceEvent("b1-f1-cam", T0 + 100, "tamper"), T0 + 100)
    assert eng.tick(T0 + 100 + CAM_LATE_AFTER) == []
    assert summary(eng.tick(T0 + 101 + CAM_LATE_AFTER)) == [
        ("raise", "camera_offline", "b1-f1-cam")]


def test_a_late_device_is_raised_once() -> None:
    eng = engine(shipped=True)
    assert summary(eng.tick(T0 + CAM_LATE_AFTER + 1)) == [
        ("raise", "camera_offline", "b1-f1-cam")]
    assert eng.tick(T0 + CAM_LATE_AFTER + 2) == []
    # Much later the NVR is late too; the camera is not raised again.
    assert summary(eng.tick(T0 + NVR_LATE_AFTER + 1)) == [("raise", "camera_offline", "b1-nvr")]
    assert eng.tick(T0 + NVR_LATE_AFTER + 2) == []


def offline_message(now: float) -> Availability:
    return Availability("b1-f1-cam", now, online=False)


@pytest.mark.parametrize(
    ("tick_at", "raised"),
    [
        pytest.param(10 + 59.9, False, id="before-the-settle"),
        pytest.param(10 + 60, True, id="at-the-settle"),
    ],
)
def test_offline_message_counts_after_the_settle_delay(tick_at: float, raised: bool) -> None:
    eng = engine(shipped=True)
    assert eng.on_availability(offline_message(T0 + 10), T0 + 10) == []
    decisions = eng.tick(T0 + tick_at)
    assert summary(decisions) == ([("raise", "camera_offline", "b1-f1-cam")] if raised else [])


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(Availability("b1-f1-cam", T0 + 30, online=True), id="online"),
        pytest.param(telemetry("b1-f1-cam", T0 + 30, recording=True, fps=25), id="telemetry"),
        pytest.param(DeviceEvent("b1-f1-cam", T0 + 30, "intrusion"), id="event"),
    ],
)
def test_any_message_within_the_settle_cancels_offline(message: DeviceMessage) -> None:
    eng = engine(shipped=True)
    eng.on_availability(offline_message(T0 + 10), T0 + 10)
    assert deliver(eng, message, T0 + 30) == []
    assert eng.tick(T0 + 10 + 60) == []
    assert eng.tick(T0 + 30 + CAM_LATE_AFTER) == []  # and lateness counts from the message


def test_a_second_offline_message_does_not_restart_the_settle() -> None:
    eng = engine(shipped=True)
    eng.on_availability(offline_message(T0 + 10), T0 + 10)
    eng.on_availability(offline_message(T0 + 50), T0 + 50)
    assert summary(eng.tick(T0 + 70)) == [("raise", "camera_offline", "b1-f1-cam")]


@pytest.mark.parametrize("went_offline_by", ["lateness", "offline-message"])
@pytest.mark.parametrize(
    "message",
    [
        pytest.param(Availability("b1-f1-cam", 0, online=True), id="online"),
        pytest.param(telemetry("b1-f1-cam", 0, recording=True), id="telemetry"),
        pytest.param(DeviceEvent("b1-f1-cam", 0, "video_loss"), id="event"),
    ],
)
def test_offline_resolves_on_the_next_message(
    message: DeviceMessage, went_offline_by: str
) -> None:
    eng = engine(shipped=True)
    if went_offline_by == "offline-message":
        eng.on_availability(offline_message(T0 + 10), T0 + 10)
        raised_at = T0 + 70
    else:
        raised_at = T0 + CAM_LATE_AFTER + 1
    assert summary(eng.tick(raised_at)) == [("raise", "camera_offline", "b1-f1-cam")]
    decisions = [d for d in deliver(eng, message, raised_at + 5)
                 if d.rule.id == "camera_offline"]
    assert summary(decisions) == [("resolve", "camera_offline", "b1-f1-cam")]
    assert decisions[0].ts == raised_at + 5
    assert eng.tick(raised_at + 6) == []


def test_an_offline_message_does_not_resolve_offline() -> None:
    eng = engine(shipped=True)
    eng.tick(T0 + CAM_LATE_AFTER + 1)
    assert eng.on_availability(offline_message(T0 + 200), T0 + 200) == []


def test_offline_message_from_a_device_without_offline_rule_is_ignored() -> None:
    eng = engine(shipped=True)
    assert eng.on_availability(Availability("b1-101-smoke", T0, online=False), T0) == []
    decisions = eng.tick(T0 + 86_400)
    assert sorted(d.subject.id for d in decisions) == ["b1-f1-cam", "b1-nvr"]


# ------------------------------------------------------------------ restarts


@pytest.mark.parametrize(
    ("last_seen", "quiet_until", "late_at"),
    [
        pytest.param(T0 + 100, T0 + 100 + CAM_LATE_AFTER, T0 + 101 + CAM_LATE_AFTER,
                     id="later-than-start-moves-forward"),
        # Silent since long before the restart: late once the start-up settle (60 s) passes.
        pytest.param(T0 - 10_000, T0 + 59, T0 + 60, id="older-than-start-is-late-after-settle"),
    ],
)
def test_restore_last_seen(last_seen: float, quiet_until: float, late_at: float) -> None:
    eng = engine(shipped=True)
    eng.restore_last_seen({"b1-f1-cam": last_seen, "no-such-device": T0, "b1-101-smoke": T0})
    assert [d for d in eng.tick(quiet_until) if d.subject.id == "b1-f1-cam"] == []
    assert [d.subject.id for d in eng.tick(late_at)] == ["b1-f1-cam"]


@pytest.mark.parametrize(
    ("rule_id", "device", "subject_id", "clearing"),
    [
        pytest.param("smoke_alarm", "b1-101-smoke", "b1/f1/101", {"smoke": False},
                     id="smoke"),
        pytest.param("gas_leak", "b1-101-gas", "b1/f1/101", {"gas_lel": 9}, id="gas"),
        pytest.param("heat_high", "b1-101-heat", "b1/f1/101", {"temperature": 20},
                     id="held-rule"),
        pytest.param("camera_offline", "b1-f1-cam", "b1-f1-cam", {"recording": True},
                     id="offline"),
    ],
)
def test_restore_firing_lets_a_clearing_reading_resolve(
    rule_id: str, device: str, subject_id: str, clearing: dict[str, float]
) -> None:
    # Without restore_firing a new engine takes the clearing reading as "was never firing".
    forgetful = engine(shipped=True)
    assert read(forgetful, device, T0 + 5, **clearing) == []

    restarted = engine(shipped=True)
    restarted.restore_firing(rule_id, device)
    assert restarted.firing_devices(rule_id, subject_id) == {device}
    decisions = read(restarted, device, T0 + 5, **clearing)
    assert summary(decisions) == [("resolve", rule_id, subject_id)]
    assert restarted.firing_devices(rule_id, subject_id) == frozenset()


def test_restore_firing_then_a_firing_reading_raises_nothing_new() -> None:
    eng = engine(shipped=True)
    eng.restore_firing("smoke_alarm", "b1-101-smoke")
    assert read(eng, "b1-101-smoke", T0, smoke=True) == []
    assert read(eng, "b1-101-smoke2", T0 + 1, smoke=True) == []
    assert read(eng, "b1-101-smoke", T0 + 2, smoke=False) == []
    assert summary(read(eng, "b1-101-smoke2", T0 + 3, smoke=False)) == [
        ("resolve", "smoke_alarm", "b1/f1/101")]


@pytest.mark.parametrize(
    ("rule_id", "device"),
    [
        pytest.param("no_such_rule", "b1-101-smoke", id="unknown-rule"),
        pytest.param("smoke_alarm", "no-such-device", id="unknown-device"),
    ],
)
def test_restore_firing_ignores_what_no_longer_exists(rule_id: str, device: str) -> None:
    eng = engine(shipped=True)
    eng.restore_firing(rule_id, device)
    assert summary(read(eng, "b1-101-smoke", T0, smoke=True)) == [
        ("raise", "smoke_alarm", "b1/f1/101")]


# ------------------------------------------------------------------ repeats and disorder


def test_repeated_firing_readings_raise_once() -> None:
    eng = engine(shipped=True)
    raises = []
    for i in range(20):
        decisions = read(eng, "b1-101-gas", T0 + i, gas_lel=21 + i / 2) + eng.tick(T0 + i + 0.5)
        raises += [d for d in decisions if isinstance(d, Raise)]
    assert len(raises) == 1


def test_a_reading_older_than_the_newest_does_not_raise_or_clear() -> None:
    """A late, older reading (a gateway emptying its buffer) says nothing about now."""
    eng = engine(shipped=True)
    now = T0 + 100
    assert summary(eng.on_telemetry(telemetry("b1-101-gas", T0 + 90, gas_lel=30), now)) == [
        ("raise", "gas_leak", "b1/f1/101")]
    assert eng.on_telemetry(telemetry("b1-101-gas", T0 + 10, gas_lel=5), now + 1) == []
    assert eng.on_telemetry(telemetry("b1-101-gas", T0 + 50, gas_lel=5), now + 2) == []
    assert summary(eng.on_telemetry(telemetry("b1-101-gas", T0 + 95, gas_lel=5), now + 3)) == [
        ("resolve", "gas_leak", "b1/f1/101")]


def test_a_clock_going_backwards_does_not_crash_or_raise_early() -> None:
    eng = engine(HEAT_HOLD, shipped=True)
    assert read(eng, "b1-101-heat", T0 + 100, temperature=60) == []
    assert read(eng, "b1-101-heat", T0 + 50, temperature=60) == []   # the clock stepped back
    assert eng.tick(T0 + 55) == []
    assert read(eng, "b1-101-heat", T0 + 105, temperature=60) == []
    decisions = eng.tick(T0 + 110)
    assert sorted(d.rule.id for d in decisions) == ["heat_high", "r1"]
    assert eng.tick(T0 + 40) == []


def test_an_old_message_does_not_move_last_seen_back() -> None:
    eng = engine(shipped=True)
    eng.on_event(DeviceEvent("b1-f1-cam", T0 + 100, "tamper"), T0 + 100)
    eng.on_event(DeviceEvent("b1-f1-cam", T0 + 50, "tamper"), T0 + 50)
    assert [d for d in eng.tick(T0 + 50 + CAM_LATE_AFTER + 1) if d.subject.id == "b1-f1-cam"] == []


def test_a_clear_before_any_raise_is_a_no_op() -> None:
    eng = engine(shipped=True)
    assert read(eng, "b1-101-smoke", T0, smoke=False) == []
    assert read(eng, "b1-101-gas", T0, gas_lel=0, co_ppm=0) == []
