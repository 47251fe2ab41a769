"""Alert lifecycle, pure: the four states, places inside places, silences, inhibition and
flapping."""

from __future__ import annotations

import pytest

from devices.site import Place
from rules.lifecycle import (
    AlertFacts,
    AlertState,
    FlapDetector,
    Silence,
    contains,
    inhibited_by,
    silenced_by,
)

# ------------------------------------------------------------------ states

UNACK, ACK = AlertState.ACTIVE_UNACK, AlertState.ACTIVE_ACK
CLEARED_UNACK, CLEARED_ACK = AlertState.CLEARED_UNACK, AlertState.CLEARED_ACK


@pytest.mark.parametrize(
    ("state", "active", "acknowledged"),
    [
        pytest.param(UNACK, True, False, id="active-unack"),
        pytest.param(ACK, True, True, id="active-ack"),
        pytest.param(CLEARED_UNACK, False, False, id="cleared-unack"),
        pytest.param(CLEARED_ACK, False, True, id="cleared-ack"),
    ],
)
def test_the_two_flags_of_each_state(state: AlertState, active: bool, acknowledged: bool
                                     ) -> None:
    assert (state.active, state.acknowledged) == (active, acknowledged)


@pytest.mark.parametrize(
    ("state", "steps", "end"),
    [
        pytest.param(UNACK, ["ack"], ACK, id="ack"),
        pytest.param(UNACK, ["clear"], CLEARED_UNACK, id="clear"),
        pytest.param(UNACK, ["ack", "clear"], CLEARED_ACK, id="ack-then-clear"),
        pytest.param(UNACK, ["clear", "ack"], CLEARED_ACK, id="clear-then-ack"),
        pytest.param(ACK, ["ack"], ACK, id="ack-twice"),
        pytest.param(CLEARED_UNACK, ["clear"], CLEARED_UNACK, id="clear-twice"),
        pytest.param(CLEARED_ACK, ["ack", "clear"], CLEARED_ACK, id="done-stays-done"),
        pytest.param(ACK, ["clear", "clear", "ack"], CLEARED_ACK, id="repeats"),
    ],
)
def test_acknowledge_and_clear_in_any_order(state: AlertState, steps: list[str],
                                            end: AlertState) -> None:
    for step in steps:
        state = state.acknowledge() if step == "ack" else state.clear()
    assert state is end


def test_a_cleared_alert_never_becomes_active_again() -> None:
    for state in AlertState:
        assert not state.clear().active
        assert state.acknowledge().active == state.active


# ------------------------------------------------------------------ places

GRID = Place("g1")
BUILDING = Place("g1", "b1")
FLOOR = Place("g1", "b1", 3)
UNIT = Place("g1", "b1", 3, "301")


@pytest.mark.parametrize(
    ("outer", "inner", "inside"),
    [
        pytest.param(GRID, GRID, True, id="grid-itself"),
        pytest.param(GRID, BUILDING, True, id="grid-building"),
        pytest.param(GRID, UNIT, True, id="grid-unit"),
        pytest.param(GRID, Place("g2", "b9", 1, "101"), False, id="grid-other-grid"),
        pytest.param(BUILDING, BUILDING, True, id="building-itself"),
        pytest.param(BUILDING, FLOOR, True, id="building-floor"),
        pytest.param(BUILDING, UNIT, True, id="building-unit"),
        pytest.param(BUILDING, Place("g1", "b2", 3, "301"), False, id="building-other"),
        pytest.param(BUILDING, GRID, False, id="building-its-grid"),
        pytest.param(Place("g2", "b1"), UNIT, False, id="same-building-id-other-grid"),
        pytest.param(FLOOR, FLOOR, True, id="floor-itself"),
        pytest.param(FLOOR, UNIT, True, id="floor-unit"),
        pytest.param(FLOOR, Place("g1", "b1", 4, "401"), False, id="floor-unit-upstairs"),
        pytest.param(FLOOR, Place("g1", "b2", 3, "301"), False,
                     id="same-floor-number-other-building"),
        pytest.param(FLOOR, BUILDING, False, id="floor-its-building"),
        pytest.param(Place("g1", "b1", 0), Place("g1", "b1", 0, "001"), True,
                     id="ground-floor-0-is-a-floor"),
        pytest.param(Place("g1", "b1", -1), Place("g1", "b1", 1), False,
                     id="basement-is-not-floor-1"),
        pytest.param(UNIT, UNIT, True, id="unit-itself"),
        pytest.param(UNIT, Place("g1", "b1", 3, "302"), False, id="unit-next-door"),
        pytest.param(UNIT, FLOOR, False, id="unit-its-floor"),
    ],
)
def test_contains(outer: Place, inner: Place, inside: bool) -> None:
    assert contains(outer, inner) is inside


# ------------------------------------------------------------------ silences

SMOKE_301 = AlertFacts("a1", "smoke_alarm", "fire", "b1-301-smoke", UNIT)
CAMERA = AlertFacts("a2", "camera_offline", "security", "b1-cam", FLOOR)
STARTS, ENDS = 1000.0, 2000.0


def silence(**matchers: object) -> Silence:
    return Silence("s1", STARTS, ENDS, "duty", "maintenance", **matchers)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "covered"),
    [
        pytest.param(STARTS - 0.001, False, id="before"),
        pytest.param(STARTS, True, id="at-the-start"),
        pytest.param(ENDS - 0.001, True, id="just-before-the-end"),
        pytest.param(ENDS, False, id="at-the-end"),
    ],
)
def test_a_silence_covers_its_time(now: float, covered: bool) -> None:
    assert silence().covers(SMOKE_301, now) is covered


@pytest.mark.parametrize(
    ("matchers", "covered"),
    [
        pytest.param({}, True, id="everything"),
        pytest.param({"device_id": "b1-301-smoke"}, True, id="device"),
        pytest.param({"device_id": "b1-302-smoke"}, False, id="other-device"),
        pytest.param({"rule_id": "smoke_alarm"}, True, id="rule"),
        pytest.param({"rule_id": "heat_high"}, False, id="other-rule"),
        pytest.param({"category": "fire"}, True, id="category"),
        pytest.param({"category": "gas"}, False, id="other-category"),
        pytest.param({"place": UNIT}, True, id="the-place-itself"),
        pytest.param({"place": FLOOR}, True, id="a-place-around-it"),
        pytest.param({"place": BUILDING}, True, id="the-building"),
        pytest.param({"place": GRID}, True, id="the-grid"),
        pytest.param({"place": Place("g1", "b1", 3, "302")}, False, id="the-home-next-door"),
        pytest.param({"place": Place("g1", "b1", 4)}, False, id="the-floor-above"),
        pytest.param({"rule_id": "smoke_alarm", "place": FLOOR}, True, id="all-match"),
        pytest.param({"rule_id": "smoke_alarm", "place": Place("g1", "b2")}, False,
                     id="one-of-two-differs"),
        pytest.param({"category": "fire", "device_id": "x"}, False, id="device-differs"),
    ],
)
def test_each_matcher_narrows_a_silence(matchers: dict[str, object], covered: bool) -> None:
    assert silence(**matchers).covers(SMOKE_301, 1500.0) is covered


def test_a_silence_of_a_unit_does_not_cover_the_floor_around_it() -> None:
    assert not silence(place=UNIT).covers(CAMERA, 1500.0)
    assert silence(place=FLOOR).covers(CAMERA, 1500.0)


def test_silenced_by_finds_the_first_covering_silence() -> None:
    silences = [
        Silence("over", 0.0, 500.0, "duty", "old"),
        Silence("other-rule", 0.0, 5000.0, "duty", "works", rule_id="heat_high"),
        Silence("floor", 1000.0, 5000.0, "duty", "works", place=FLOOR),
        Silence("grid", 0.0, 5000.0, "duty", "drill", place=GRID),
    ]
    assert silenced_by(SMOKE_301, silences, 100.0) is silences[0]
    assert silenced_by(SMOKE_301, silences, 900.0) is silences[3]
    assert silenced_by(SMOKE_301, silences, 1500.0) is silences[2]
    assert silenced_by(SMOKE_301, silences, 5000.0) is None
    assert silenced_by(SMOKE_301, [], 1500.0) is None


# ------------------------------------------------------------------ inhibition

INHIBITS = {
    "fire_confirmed": frozenset({"smoke_alarm", "heat_high"}),
    "building_outage": frozenset({"camera_offline"}),
    "self_muting": frozenset({"self_muting"}),
}
FIRE_FLOOR_3 = AlertFacts("f3", "fire_confirmed", "fire", "b1-301-smoke", FLOOR)
OUTAGE_B1 = AlertFacts("o1", "building_outage", "power", "b1-cam", BUILDING)


@pytest.mark.parametrize(
    ("alert", "active", "by"),
    [
        pytest.param(SMOKE_301, [FIRE_FLOOR_3], "f3", id="fire-mutes-smoke-in-its-floor"),
        pytest.param(AlertFacts("a3", "smoke_alarm", "fire", "d", Place("g1", "b1", 4, "401")),
                     [FIRE_FLOOR_3], None, id="not-a-floor-above"),
        pytest.param(AlertFacts("a4", "gas_leak", "gas", "d", UNIT), [FIRE_FLOOR_3], None,
                     id="not-a-rule-it-does-not-name"),
        pytest.param(CAMERA, [FIRE_FLOOR_3], None, id="fire-does-not-mute-cameras"),
        pytest.param(CAMERA, [OUTAGE_B1], "o1", id="outage-mutes-cameras-in-its-building"),
        pytest.param(AlertFacts("a5", "camera_offline", "security", "c", Place("g1", "b2", 1)),
                     [OUTAGE_B1], None, id="not-in-another-building"),
        pytest.param(FIRE_FLOOR_3, [SMOKE_301], None, id="not-the-other-way-round"),
        pytest.param(AlertFacts("u", "smoke_alarm", "fire", "d", BUILDING), [FIRE_FLOOR_3],
                     None, id="not-a-place-around-the-source"),
        pytest.param(CAMERA, [FIRE_FLOOR_3, OUTAGE_B1], "o1", id="the-one-that-matches"),
        pytest.param(CAMERA, [], None, id="nothing-active"),
    ],
)
def test_inhibited_by(alert: AlertFacts, active: list[AlertFacts], by: str | None) -> None:
    source = inhibited_by(alert, active, INHIBITS)
    assert (source.id if source else None) == by


def test_an_alert_never_inhibits_itself() -> None:
    mute = AlertFacts("m1", "self_muting", "power", "d", BUILDING)
    assert inhibited_by(mute, [mute], INHIBITS) is None
    # Another alert of the same rule, in a place around it, does.
    inner = AlertFacts("m2", "self_muting", "power", "d", FLOOR)
    assert inhibited_by(inner, [mute, inner], INHIBITS) is mute


def test_a_rule_without_inhibits_mutes_nothing() -> None:
    assert inhibited_by(SMOKE_301, [FIRE_FLOOR_3], {}) is None


# ------------------------------------------------------------------ flapping

KEY = ("smoke_alarm", "b1/f3/301")
OTHER = ("gas_leak", "b1/f3/301")


def flaps(times: list[float], detector: FlapDetector | None = None) -> list[bool]:
    detector = detector or FlapDetector(changes=6, window_s=600.0, settle_s=600.0)
    return [detector.change(KEY, t) for t in times]


@pytest.mark.parametrize(
    ("times", "flapping"),
    [
        pytest.param([0, 10, 20, 30, 40], [False] * 5, id="five-changes"),
        pytest.param([0, 10, 20, 30, 40, 50], [False] * 5 + [True], id="the-sixth"),
        pytest.param([0, 100, 200, 300, 400, 600], [False] * 5 + [True],
                     id="six-in-exactly-the-window"),
        pytest.param([0, 100, 200, 300, 400, 600.5], [False] * 6, id="six-spread-out"),
        pytest.param([0, 700, 710, 720, 730, 740, 750], [False] * 6 + [True],
                     id="the-window-slides"),
        pytest.param([0, 10, 20, 30, 40, 50, 2000], [False] * 5 + [True, True],
                     id="flapping-until-settled"),
    ],
)
def test_flapping_after_n_changes_in_the_window(times: list[float], flapping: list[bool]
                                                ) -> None:
    assert flaps(times) == flapping


def test_keys_flap_independently() -> None:
    detector = FlapDetector(changes=3, window_s=60.0, settle_s=60.0)
    assert [detector.change(KEY, t) for t in (0, 1, 2)] == [False, False, True]
    assert detector.change(OTHER, 3) is False
    assert detector.flapping == {KEY}


@pytest.mark.parametrize(
    ("now", "settled"),
    [
        pytest.param(50 + 599.9, [], id="before-the-settle"),
        pytest.param(50 + 600, [KEY], id="quiet-for-the-settle"),
    ],
)
def test_settled_after_quiet_time(now: float, settled: list[tuple[str, str]]) -> None:
    detector = FlapDetector(changes=6, window_s=600.0, settle_s=600.0)
    flaps([0, 10, 20, 30, 40, 50], detector)
    assert detector.settled(now) == settled
    assert (KEY in detector.flapping) == (not settled)


def test_a_change_while_flapping_puts_the_settle_off() -> None:
    detector = FlapDetector(changes=6, window_s=600.0, settle_s=600.0)
    flaps([0, 10, 20, 30, 40, 50], detector)
    assert detector.change(KEY, 500) is True
    assert detector.settled(1000) == []
    assert detector.settled(1100) == [KEY]
    assert detector.settled(1200) == []  # reported once


def test_after_settling_the_count_starts_afresh() -> None:
    detector = FlapDetector(changes=6, window_s=600.0, settle_s=600.0)
    flaps([0, 10, 20, 30, 40, 50], detector)
    detector.settled(700)
    assert flaps([701, 702, 703, 704, 705], detector) == [False] * 5
    assert detector.change(KEY, 706) is True


def test_forget_quiet_bounds_memory() -> None:
    detector = FlapDetector(changes=6, window_s=600.0, settle_s=600.0)
    detector.change(OTHER, 0)
    flaps([0, 10, 20, 30, 40, 50], detector)
    detector.forget_quiet(600)  # OTHER quiet exactly a window: kept
    assert detector.change(OTHER, 601) is False
    detector.forget_quiet(601 + 600.5)
    # OTHER's history is gone; the flapping key keeps its own until it settles.
    assert detector.flapping == {KEY}
    assert detector.settled(601 + 600.5) == [KEY]
    # Five changes after the forgetting are not six: nothing of the old history is left.
    assert [detector.change(OTHER, 2000 + t) for t in range(5)] == [False] * 5


def test_forget_quiet_drops_exactly_the_quiet_keys() -> None:
    detector = FlapDetector(changes=2, window_s=100.0, settle_s=100.0)
    detector.change(KEY, 0)
    detector.change(OTHER, 50)
    detector.forget_quiet(120)  # KEY quiet 120 s (> window), OTHER 70 s
    # KEY starts again from nothing: one change is not two. OTHER remembers its change at 50.
    assert detector.change(KEY, 130) is False
    assert detector.change(OTHER, 130) is True
