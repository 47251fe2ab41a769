"""A loaded scenario: frozen records the runner works from.

Steps are the timeline as written; actions are what the steps do to devices, each at its own
offset (a fire is smoke at once, then a temperature reading every ten seconds ...).
Offsets are simulated seconds from the scenario's start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Literal

from devices.site import Place, PlaceLevel, Site
from simulators.routine import Sensor
from simulators.signals import Values

_DEPTH = {PlaceLevel.GRID: 0, PlaceLevel.BUILDING: 1, PlaceLevel.FLOOR: 2, PlaceLevel.UNIT: 3}
_SEVERITY = {"info": 0, "minor": 1, "major": 2, "critical": 3}


def contains(outer: Place, inner: Place) -> bool:
    """`inner` is `outer` or a place inside it."""
    return _DEPTH[inner.level] >= _DEPTH[outer.level] and inner.at(outer.level) == outer


@dataclass(frozen=True, slots=True)
class AlertView:
    """The parts of an alert (GET /api/alerts) that scenarios check."""

    id: str
    rule: str
    category: str
    severity: str
    active: bool
    place: str
    subject: str
    device: str
    raised_at: float
    cleared_at: float | None
    exercise: bool


@dataclass(frozen=True, slots=True)
class Match:
    rule: str | None = None
    category: str | None = None
    place: str | None = None
    device: str | None = None
    severity: str | None = None
    """At least this severity (an alert that escalated later counts once it has)."""

    def matches(self, alert: AlertView, site: Site) -> bool:
        if self.rule is not None and alert.rule != self.rule:
            return False
        if self.category is not None and alert.category != self.category:
            return False
        if self.device is not None and alert.device != self.device:
            return False
        if self.severity is not None and (_SEVERITY.get(alert.severity, -1)
                                          < _SEVERITY[self.severity]):
            return False
        if self.place is not None:
            where = site.places.get(alert.place) or site.places.get(alert.subject)
            outer = site.places[self.place]
            if where is None or not contains(outer, where):
                return False
        return True

    def describe(self) -> str:
        what = self.rule or self.category or "any"
        if self.rule is not None and self.category is not None:
            what = f"{self.category}/{self.rule}"
        parts = [what]
        if self.severity is not None:
            parts.append(f"({self.severity}+)")
        if self.place is not None:
            parts.append(f"@ {self.place}")
        if self.device is not None:
            parts.append(f"from {self.device}")
        return " ".join(parts)


# ---------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class SetValues:
    at: float
    step: int
    device: str
    values: Values
    hold_s: float | None = None
    """None: until changed again."""


@dataclass(frozen=True, slots=True)
class Restore:
    """Back to the device's normal signal model."""

    at: float
    step: int
    device: str


@dataclass(frozen=True, slots=True)
class SendEvent:
    at: float
    step: int
    device: str
    type: str


@dataclass(frozen=True, slots=True)
class SetAvailable:
    at: float
    step: int
    device: str
    online: bool


@dataclass(frozen=True, slots=True)
class Mute:
    at: float
    step: int
    device: str
    muted: bool


@dataclass(frozen=True, slots=True)
class HoldHome:
    at: float
    step: int
    unit: str
    active: tuple[tuple[Sensor, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class ResumeHome:
    at: float
    step: int
    unit: str


@dataclass(frozen=True, slots=True)
class Operate:
    at: float
    step: int
    action: Literal["acknowledge", "clear"]
    match: Match
    by: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RestartBroker:
    at: float
    step: int
    command: str | None


Action = (SetValues | Restore | SendEvent | SetAvailable | Mute | HoldHome | ResumeHome
          | Operate | RestartBroker)


# ---------------------------------------------------------------- the scenario


@dataclass(frozen=True, slots=True)
class Step:
    index: int
    id: str
    happening: str
    at: float
    end: float
    """When the hazard ends (== at for a moment's happening, inf when it lasts)."""
    summary: str
    line: int | None


@dataclass(frozen=True, slots=True)
class Expectation:
    index: int
    kind: Literal["alert", "no_alert"]
    match: Match
    after: str | None
    within: float | None
    delivered_to: tuple[str, ...] = ()
    exercise: bool | None = None
    resolved_within: float | None = None
    name: str = ""
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Background:
    interval_scale: float = 1.0
    routines: bool = True
    seed: int = 1


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    source: Path
    site: Site
    site_path: Path
    speed: float
    start: time | float | None
    drill: str | None
    """The drill's name when the scenario runs as a drill (演练)."""
    background: Background
    steps: tuple[Step, ...]
    actions: tuple[Action, ...]
    expectations: tuple[Expectation, ...]
    duration: float | None = None
    steps_by_id: dict[str, Step] = field(default_factory=dict)

    def since(self, expectation: Expectation) -> float:
        """Planned offset that an expectation counts from."""
        return 0.0 if expectation.after is None else self.steps_by_id[expectation.after].at

    def planned_end(self) -> float:
        """The offset by which every step has happened and every deadline has passed."""
        end = max((a.at for a in self.actions), default=0.0)
        for e in self.expectations:
            since = self.since(e)
            if e.within is not None:
                end = max(end, since + e.within)
            if e.resolved_within is not None and e.after is not None:
                step = self.steps_by_id[e.after]
                finish = step.end if step.end != float("inf") else step.at
                end = max(end, finish + e.resolved_within)
        return max(end, self.duration or 0.0)
