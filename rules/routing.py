"""Who is told about an alert, through which receivers, and when to go up the chain. Pure.

A route matches alerts by category, severity, rule and place, and names the roster roles to
tell first (`people`: e.g. the floor leader of the alert's floor and the duty officer), the
receivers that reach a person (`via`: SMS to their phone, e-mail, their MQTT command topic)
and the receivers addressed as a whole (`groups`: a WeCom or DingTalk group robot, a webhook).

Escalation walks the chain floor leader → building leader → grid leader → duty officer →
sub-district command centre, one step each time an alert stays unacknowledged for its
severity's `escalate_after`, starting above the first role the route tells.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from devices.site import Place, PlaceLevel, Responder, ResponderRole, Site
from rules.lifecycle import contains

CHAIN = ("floor_leader", "building_leader", "grid_leader", "duty_officer", "command_centre")

_LEADS = {
    ResponderRole.FLOOR_LEADER: PlaceLevel.FLOOR,
    ResponderRole.BUILDING_LEADER: PlaceLevel.BUILDING,
    ResponderRole.GRID_LEADER: PlaceLevel.GRID,
}
_DEPTH = {PlaceLevel.GRID: 0, PlaceLevel.BUILDING: 1, PlaceLevel.FLOOR: 2, PlaceLevel.UNIT: 3}


@dataclass(frozen=True, slots=True)
class RoutedAlert:
    id: str
    rule_id: str
    category: str
    severity: str
    place: Place


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    people: tuple[str, ...] = ()
    via: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    speakers: str | None = None
    """An MQTT receiver to broadcast the warning on the place's PA speakers."""
    categories: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    places: tuple[Place, ...] = ()
    group_by: tuple[str, ...] = ()
    group_wait_s: float = 0.0
    repeat_s: float | None = None
    stop: bool = True
    """False is Alertmanager's `continue: true`: later routes are tried too."""

    def matches(self, alert: RoutedAlert) -> bool:
        return ((not self.categories or alert.category in self.categories)
                and (not self.severities or alert.severity in self.severities)
                and (not self.rules or alert.rule_id in self.rules)
                and (not self.places or any(contains(p, alert.place) for p in self.places)))


@dataclass(frozen=True, slots=True)
class Policy:
    routes: tuple[Route, ...]
    escalate_after: Mapping[str, float]
    """Severity → seconds unacknowledged before the next step of the chain."""
    chain: tuple[str, ...] = CHAIN


@dataclass(frozen=True, slots=True)
class Target:
    """One delivery to make: a receiver, and the person it reaches (None for a group)."""

    route: str
    receiver: str
    recipient: Responder | None = None
    group_key: str | None = None
    delay_s: float = 0.0
    speakers: bool = False


def routes_for(policy: Policy, alert: RoutedAlert) -> list[Route]:
    out = []
    for route in policy.routes:
        if route.matches(alert):
            out.append(route)
            if route.stop:
                break
    return out


def holders(site: Site, place: Place, role: str) -> list[Responder]:
    """Who holds `role` for this place: the leader of its floor, building or grid; the duty
    officers, command centre and care operators of the whole site."""
    wanted = ResponderRole(role)
    level = _LEADS.get(wanted)
    out = []
    for person in site.roster:
        if person.role is not wanted:
            continue
        if level is None:
            out.append(person)
            continue
        if _DEPTH[place.level] < _DEPTH[level]:
            continue  # a building-wide alert has no single floor leader
        if person.place_id == place.at(level).id:
            out.append(person)
    return out


def group_key(route: Route, receiver: str, recipient: Responder | None,
              alert: RoutedAlert) -> str | None:
    if not route.group_by:
        return None
    labels = {"rule": alert.rule_id, "category": alert.category, "severity": alert.severity,
              "grid": alert.place.grid, "building": alert.place.building or "",
              "floor": alert.place.at(PlaceLevel.FLOOR).id if alert.place.floor else "",
              "place": alert.place.id}
    parts = [route.name, receiver, recipient.id if recipient else "*"]
    parts += [f"{k}={labels.get(k, '')}" for k in route.group_by]
    return "|".join(parts)


def first_targets(policy: Policy, site: Site, alert: RoutedAlert) -> list[Target]:
    """Who is told when the alert is raised."""
    targets: list[Target] = []
    for route in routes_for(policy, alert):
        for role in route.people:
            for person in holders(site, alert.place, role):
                targets += _person_targets(route, person, alert)
        for receiver in route.groups:
            targets.append(Target(route.name, receiver, None,
                                  group_key(route, receiver, None, alert), route.group_wait_s))
        if route.speakers:
            targets.append(Target(route.name, route.speakers, speakers=True))
    return _unique(targets)


def escalation_targets(policy: Policy, site: Site, alert: RoutedAlert, level: int
                       ) -> tuple[list[Target], int]:
    """The people of escalation step `level` (1 = first step up) and the level reached.

    Steps whose role nobody holds for this place (a building-wide alert has no floor
    leader) are passed over, so the alert always reaches someone who can act.
    """
    routes = routes_for(policy, alert)
    told = {role for route in routes for role in route.people}
    start = min((policy.chain.index(r) for r in told if r in policy.chain), default=-1)
    ladder = [r for r in policy.chain[start + 1:] if r not in told]
    while level <= len(ladder):
        role = ladder[level - 1]
        targets = [t for route in routes for person in holders(site, alert.place, role)
                   for t in _person_targets(route, person, alert, grouped=False)]
        if targets:
            return _unique(targets), level
        level += 1
    return [], level


def escalation_due(policy: Policy, severity: str, since: float, now: float) -> bool:
    after = policy.escalate_after.get(severity)
    return after is not None and now - since >= after


def _person_targets(route: Route, person: Responder, alert: RoutedAlert, *,
                    grouped: bool = True) -> list[Target]:
    return [Target(route.name, receiver, person,
                   group_key(route, receiver, person, alert) if grouped else None,
                   route.group_wait_s if grouped else 0.0)
            for receiver in route.via]


def _unique(targets: Iterable[Target]) -> list[Target]:
    seen: set[tuple[str, str | None, bool]] = set()
    out = []
    for t in targets:
        key = (t.receiver, t.recipient.id if t.recipient else None, t.speakers)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out
