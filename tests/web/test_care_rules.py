"""Pure rules behind the pages: who may do what, when a check-in is due, what counts as a
resident being up and about. No broker, no loop."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from devices.site import Place, Resident
from hub.api.residents import _mask
from hub.auth.roles import (
    Role,
    may_handle_alert,
    may_silence,
    permissions,
    sees_contacts,
)
from hub.care import CHECK_IN_EVERY_S, Outcome, activity_day, day_start, next_check_in

ZONE = "Asia/Shanghai"


def at(hour: int, minute: int = 0, day: int = 27) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo(ZONE)).timestamp()


@pytest.mark.parametrize(("role", "fire", "care"), [
    (Role.ADMIN, True, True), (Role.DUTY_OFFICER, True, True),
    (Role.CARE_OPERATOR, False, True), (Role.VIEWER, False, False)])
def test_who_handles_which_alerts(role: Role, fire: bool, care: bool) -> None:
    assert may_handle_alert(role, "fire") is fire
    assert may_handle_alert(role, "elderly_care") is care
    assert may_silence(role, "fire") is fire
    assert may_silence(role, "elderly_care") is care
    assert may_silence(role, None) is fire  # every category: not for a care operator
    assert permissions(role)["handle_care_alerts"] is care
    assert sees_contacts(role) is (role is not Role.VIEWER)


def test_the_next_check_in_follows_the_care_level() -> None:
    home = Place("g1", "b1", 1, "101")
    for level, every in CHECK_IN_EVERY_S.items():
        resident = Resident("r", "王", home, level, True, ())
        assert next_check_in(resident, 1000.0, 5000.0) == 1000.0 + every
        assert next_check_in(resident, None, 5000.0) == 5000.0  # never reached: due now
    assert CHECK_IN_EVERY_S["intensive"] < CHECK_IN_EVERY_S["assisted"] \
        < CHECK_IN_EVERY_S["self_care"]
    assert not Outcome.NO_ANSWER.reached
    assert all(o.reached for o in Outcome if o is not Outcome.NO_ANSWER)


def test_a_day_of_activity_hour_by_hour() -> None:
    now = at(10, 30)
    points = [
        ("occupancy", at(23, 50, day=26), 1.0),   # yesterday: last activity, not today
        ("in_bed", at(6, 10), 1.0),               # still in bed: not activity
        ("in_bed", at(7, 5), 0.0),                # up
        ("occupancy", at(7, 20), 1.0),
        ("occupancy", at(7, 40), 0.0),            # the room empties: not activity
        ("contact", at(9, 0), 0.0),               # front door opened
        ("contact", at(9, 1), 1.0),
        ("occupancy", at(11, 0), 1.0),            # in the future of `now`: ignored
    ]
    day = activity_day(points, now, ZONE)
    assert day.last_activity == at(9, 0)
    assert day.hours[7] == 2
    assert day.hours[9] == 1
    assert sum(day.hours) == 3
    assert len(day.hours) == 24
    assert activity_day(points[:1], now, ZONE).last_activity == at(23, 50, day=26)
    assert day_start(now, ZONE) == at(0, 0)


def test_contacts_are_masked_for_wall_screens() -> None:
    assert _mask("+8613900000001") == "+86139****0001"
    assert _mask("13900000001") == "****0001"
    assert _mask("110") == "****"
