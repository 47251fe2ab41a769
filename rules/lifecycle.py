"""Alert lifecycle decisions, pure: states, silences, inhibition, flapping.

States follow ThingsBoard's alarm model: an alert is active or cleared, and acknowledged or
not, independently. A condition that goes away clears the alert; a person acknowledges it
("I have it") and may clear it by hand (an SOS has no sensor that says it is over).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from devices.site import Place


class AlertState(Enum):
    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    CLEARED_UNACK = "cleared_unack"
    CLEARED_ACK = "cleared_ack"

    @property
    def active(self) -> bool:
        return self in (AlertState.ACTIVE_UNACK, AlertState.ACTIVE_ACK)

    @property
    def acknowledged(self) -> bool:
        return self in (AlertState.ACTIVE_ACK, AlertState.CLEARED_ACK)

    def acknowledge(self) -> AlertState:
        return AlertState.ACTIVE_ACK if self.active else AlertState.CLEARED_ACK

    def clear(self) -> AlertState:
        return AlertState.CLEARED_ACK if self.acknowledged else AlertState.CLEARED_UNACK


def contains(outer: Place, inner: Place) -> bool:
    """Whether `inner` lies inside `outer` (or is it)."""
    if outer.grid != inner.grid:
        return False
    for mine, theirs in ((outer.building, inner.building), (outer.floor, inner.floor),
                         (outer.unit, inner.unit)):
        if mine is None:
            return True
        if mine != theirs:
            return False
    return True


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What silences and inhibition look at."""

    id: str
    rule_id: str
    category: str
    device_id: str
    place: Place


@dataclass(frozen=True, slots=True)
class Silence:
    """A maintenance window: matching alerts are recorded but not announced."""

    id: str
    starts: float
    ends: float
    author: str
    reason: str
    device_id: str | None = None
    place: Place | None = None
    """Matches alerts about this place or anything inside it."""
    rule_id: str | None = None
    category: str | None = None
    created: float = 0.0

    def covers(self, alert: AlertFacts, now: float) -> bool:
        if not self.starts <= now < self.ends:
            return False
        if self.device_id is not None and alert.device_id != self.device_id:
            return False
        if self.rule_id is not None and alert.rule_id != self.rule_id:
            return False
        if self.category is not None and alert.category != self.category:
            return False
        return self.place is None or contains(self.place, alert.place)


def silenced_by(alert: AlertFacts, silences: Iterable[Silence], now: float) -> Silence | None:
    return next((s for s in silences if s.covers(alert, now)), None)


def inhibited_by(alert: AlertFacts, active: Iterable[AlertFacts],
                 inhibits: Mapping[str, frozenset[str]]) -> AlertFacts | None:
    """The active alert whose rule inhibits this alert's rule in a place containing it.

    E.g. a building outage mutes the cameras' offline alerts in that building; a confirmed
    fire on a floor mutes the single-detector smoke alerts of its homes.
    """
    for source in active:
        if source.id == alert.id:
            continue
        if alert.rule_id in inhibits.get(source.rule_id, frozenset()) and contains(
                source.place, alert.place):
            return source
    return None


class FlapDetector:
    """Kapacitor-style: a key that changes state too often in a window is flapping until it
    has been quiet for `settle_s`."""

    def __init__(self, *, changes: int = 6, window_s: float = 600.0,
                 settle_s: float = 600.0) -> None:
        self._changes = changes
        self._window_s = window_s
        self._settle_s = settle_s
        self._history: dict[tuple[str, str], deque[float]] = {}
        self.flapping: set[tuple[str, str]] = set()

    def change(self, key: tuple[str, str], now: float) -> bool:
        """Record a raise or clear; True while the key is flapping."""
        history = self._history.setdefault(key, deque(maxlen=self._changes))
        history.append(now)
        if len(history) == self._changes and now - history[0] <= self._window_s:
            self.flapping.add(key)
        return key in self.flapping

    def settled(self, now: float) -> list[tuple[str, str]]:
        """Keys that stopped flapping: quiet for the settle time. Removes them."""
        done = [k for k in self.flapping if now - self._history[k][-1] >= self._settle_s]
        for key in done:
            self.flapping.discard(key)
            del self._history[key]
        return done

    def forget_quiet(self, now: float) -> None:
        """Drop history of keys quiet for a whole window, so memory stays bounded."""
        for key in [k for k, h in self._history.items()
                    if k not in self.flapping and now - h[-1] > self._window_s]:
            del self._history[key]
