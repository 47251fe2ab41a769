"""Routing, pure: which routes match, who holds a role for a place, escalation steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.site import Site, load_site
from rules.routing import (
    Policy,
    Route,
    RoutedAlert,
    escalation_due,
    escalation_targets,
    first_targets,
    group_key,
    holders,
    routes_for,
)

SITE_FILE = Path(__file__).parents[1] / "data" / "site.yaml"
SITE: Site = load_site(SITE_FILE.read_text(encoding="utf-8"), str(SITE_FILE))


def alert(place: str, *, category: str = "fire", severity: str = "major",
          rule: str = "smoke_alarm") -> RoutedAlert:
    return RoutedAlert("a1", rule, category, severity, SITE.places[place])


FIRE = Route("fire", people=("floor_leader",), via=("sms",), groups=("duty",),
             categories=frozenset({"fire"}))
CARE = Route("care", people=("duty_officer",), via=("cmd",),
             categories=frozenset({"elderly_care"}))
ALL = Route("all", groups=("log",), stop=False)


@pytest.mark.parametrize(
    ("routes", "category", "expected"),
    [
        pytest.param((FIRE, CARE), "fire", ["fire"], id="first-match-stops"),
        pytest.param((FIRE, CARE), "elderly_care", ["care"], id="second-route"),
        pytest.param((FIRE, CARE), "gas", [], id="no-route"),
        pytest.param((ALL, FIRE), "fire", ["all", "fire"], id="continue"),
    ],
)
def test_routes_for(routes: tuple[Route, ...], category: str, expected: list[str]) -> None:
    policy = Policy(routes, {})
    assert [r.name for r in routes_for(policy, alert("b1/f1/101", category=category))] == \
        expected


def test_match_by_place_severity_and_rule() -> None:
    route = Route("b1-critical", groups=("x",), severities=frozenset({"critical"}),
                  places=(SITE.places["b1/f2"],), rules=frozenset({"smoke_alarm"}))
    assert route.matches(alert("b1/f2/201", severity="critical"))
    assert not route.matches(alert("b1/f1/101", severity="critical"))   # other floor
    assert not route.matches(alert("b1/f2/201", severity="major"))
    assert not route.matches(alert("b1/f2/201", severity="critical", rule="gas_leak"))


@pytest.mark.parametrize(
    ("place", "role", "expected"),
    [
        pytest.param("b1/f1/101", "floor_leader", ["b1-f1-lead"], id="floor-of-a-home"),
        pytest.param("b1/f2/201", "floor_leader", [], id="floor-without-leader"),
        pytest.param("b1", "floor_leader", [], id="building-alert-has-no-floor-leader"),
        pytest.param("b1/f2/201", "building_leader", ["b1-lead"], id="building"),
        pytest.param("g1", "duty_officer", ["duty"], id="site-wide-role"),
        pytest.param("b1/f1/101", "grid_leader", [], id="nobody-holds-it"),
    ],
)
def test_holders(place: str, role: str, expected: list[str]) -> None:
    assert [p.id for p in holders(SITE, SITE.places[place], role)] == expected


def test_first_targets_people_groups_and_speakers() -> None:
    route = Route("fire", people=("floor_leader", "duty_officer"), via=("sms", "cmd"),
                  groups=("duty-robot",), speakers="cmd", group_by=("rule", "building"),
                  group_wait_s=10)
    targets = first_targets(Policy((route,), {}), SITE, alert("b1/f1/101"))
    assert [(t.receiver, t.recipient.id if t.recipient else None, t.speakers)
            for t in targets] == [("sms", "b1-f1-lead", False), ("cmd", "b1-f1-lead", False),
                                  ("sms", "duty", False), ("cmd", "duty", False),
                                  ("duty-robot", None, False), ("cmd", None, True)]
    assert targets[0].delay_s == 10
    assert targets[0].group_key == "fire|sms|b1-f1-lead|rule=smoke_alarm|building=b1"
    assert targets[-1].delay_s == 0  # the speakers do not wait for a group


def test_escalation_climbs_past_roles_nobody_holds() -> None:
    policy = Policy((FIRE,), {"major": 60})
    step1, level = escalation_targets(policy, SITE, alert("b1/f1/101"), 1)
    assert (level, [t.recipient.id for t in step1 if t.recipient]) == (1, ["b1-lead"])
    # Step 2 would be the grid leader: none in the roster, so the duty officer.
    step2, level = escalation_targets(policy, SITE, alert("b1/f1/101"), 2)
    assert (level, [t.recipient.id for t in step2 if t.recipient]) == (3, ["duty"])
    # Past the command centre (none here) there is nobody left to tell.
    assert escalation_targets(policy, SITE, alert("b1/f1/101"), 4) == ([], 5)


def test_escalation_skips_roles_the_route_already_told() -> None:
    route = Route("r", people=("floor_leader", "building_leader"), via=("sms",))
    targets, level = escalation_targets(Policy((route,), {}), SITE, alert("b1/f1/101"), 1)
    assert level == 2
    assert [t.recipient.id for t in targets if t.recipient] == ["duty"]


@pytest.mark.parametrize(
    ("severity", "elapsed", "due"),
    [("major", 59.9, False), ("major", 60, True), ("minor", 10_000, False)],
)
def test_escalation_due(severity: str, elapsed: float, due: bool) -> None:
    assert escalation_due(Policy((), {"major": 60}), severity, 100.0, 100.0 + elapsed) is due


def test_group_key_none_without_group_by() -> None:
    assert group_key(FIRE, "sms", None, alert("b1/f1/101")) is None
