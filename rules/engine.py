"""The rules engine: device messages in, alert decisions out. Pure: time is passed in.

Dispatch is by (device kind, metric) through a dict, so a reading only meets the rules that
can speak about it. Condition state is kept per (rule, device); the alert is per
(rule, subject), and a subject above device level (a unit, a floor) stays raised while any
of its devices still fires. The hub applies the decisions; the engine does no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from devices.messages import Availability, DeviceEvent, Telemetry
from devices.site import DeviceInfo, Place, PlaceLevel, Site
from rules.schema import Offline, Rule, SubjectLevel, Threshold

_PLACE_LEVEL = {
    SubjectLevel.UNIT: PlaceLevel.UNIT,
    SubjectLevel.FLOOR: PlaceLevel.FLOOR,
    SubjectLevel.BUILDING: PlaceLevel.BUILDING,
    SubjectLevel.GRID: PlaceLevel.GRID,
}


@dataclass(frozen=True, slots=True)
class Subject:
    level: SubjectLevel
    id: str
    place: Place


@dataclass(frozen=True, slots=True)
class Raise:
    rule: Rule
    subject: Subject
    ts: float
    device_id: str
    metric: str | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Resolve:
    rule: Rule
    subject: Subject
    ts: float
    device_id: str


Decision = Raise | Resolve


def subject_of(rule: Rule, device: DeviceInfo) -> Subject:
    if rule.subject is SubjectLevel.DEVICE:
        return Subject(SubjectLevel.DEVICE, device.id, device.place)
    level = _PLACE_LEVEL[rule.subject]
    # A device above the rule's level (a building's pump in a `unit` rule) speaks for its own
    # place; one below it speaks for the enclosing place.
    place = device.place.at(level) if _DEPTH[device.place.level] >= _DEPTH[level] else device.place
    return Subject(rule.subject, place.id, place)


_DEPTH = {PlaceLevel.GRID: 0, PlaceLevel.BUILDING: 1, PlaceLevel.FLOOR: 2, PlaceLevel.UNIT: 3}


class _Watch:
    """Condition state of one rule on one device."""

    __slots__ = ("firing", "pending_since", "value")

    def __init__(self) -> None:
        self.firing = False
        self.pending_since: float | None = None
        self.value = 0.0


class RulesEngine:
    def __init__(self, site: Site, rules: Iterable[Rule], *, started: float) -> None:
        self._site = site
        self.rules = {r.id: r for r in rules}
        self._thresholds: dict[tuple[str, str], list[Rule]] = defaultdict(list)
        self._offline_rules: dict[str, list[Rule]] = defaultdict(list)
        for rule in self.rules.values():
            for kind in sorted(rule.kinds):
                if isinstance(rule.condition, Threshold):
                    self._thresholds[(kind, rule.condition.metric)].append(rule)
                else:
                    self._offline_rules[kind].append(rule)
        self._watches: dict[tuple[str, str], _Watch] = {}
        self._pending: set[tuple[str, str]] = set()
        # Devices feeding each raised alert; the alert clears when the set empties.
        self._firing: dict[tuple[str, str], set[str]] = {}
        # Offline tracking: last message time, and when an `offline` message arrived.
        self._last_seen: dict[str, float] = {
            d: started for d, info in site.devices.items() if info.kind.name in self._offline_rules
        }
        self._offline_since: dict[str, float] = {}
        self._started = started
        # Newest reading time per device: an older reading arriving late (a gateway emptying
        # its buffer) is stored, but must not raise or clear what is true now.
        self._newest: dict[str, float] = {}

    # ------------------------------------------------------------------ inputs

    def restore_last_seen(self, last_seen: dict[str, float]) -> None:
        """Carry device last-seen times over a hub restart.

        A device silent since before the restart is late by its own history, not granted a
        fresh interval; `tick` holds offline alerts for one settle delay after start, so the
        messages the broker kept for us while we were down arrive first.
        """
        for device_id, ts in last_seen.items():
            if device_id in self._last_seen:
                self._last_seen[device_id] = ts

    def restore_firing(self, rule_id: str, device_id: str) -> None:
        """After a restart: the alert this device fed is still active, so a clearing reading
        must clear it rather than be taken as 'was never firing'."""
        rule = self.rules.get(rule_id)
        device = self._site.devices.get(device_id)
        if rule is None or device is None:
            return
        if isinstance(rule.condition, Threshold):
            watch = self._watches.setdefault((rule_id, device_id), _Watch())
            watch.firing = True
        self._firing.setdefault((rule_id, subject_of(rule, device).id), set()).add(device_id)

    def on_telemetry(self, telemetry: Telemetry, now: float) -> list[Decision]:
        device = self._site.devices[telemetry.device_id]
        decisions = self._seen(device, now)
        newest = self._newest.get(device.id)
        if newest is not None and telemetry.ts < newest:
            return decisions
        self._newest[device.id] = telemetry.ts
        kind = device.kind.name
        for metric, value in telemetry.values:
            rules = self._thresholds.get((kind, metric))
            if rules:
                for rule in rules:
                    self._evaluate(rule, device, value, now, decisions)
        return decisions

    def on_event(self, event: DeviceEvent, now: float) -> list[Decision]:
        return self._seen(self._site.devices[event.device_id], now)

    def on_availability(self, availability: Availability, now: float) -> list[Decision]:
        device = self._site.devices[availability.device_id]
        if availability.online:
            return self._seen(device, now)
        if device.id in self._last_seen:
            self._offline_since.setdefault(device.id, now)
        return []

    def tick(self, now: float) -> list[Decision]:
        """Fire held conditions whose time has come and devices that went quiet."""
        decisions: list[Decision] = []
        for key in list(self._pending):
            rule_id, device_id = key
            watch = self._watches[key]
            rule = self.rules[rule_id]
            assert isinstance(rule.condition, Threshold)
            assert watch.pending_since is not None
            if now - watch.pending_since >= rule.condition.hold_s:
                self._pending.discard(key)
                self._start_firing(rule, self._site.devices[device_id], watch, now, decisions)
        for device_id, last in self._last_seen.items():
            device = self._site.devices[device_id]
            offline_since = self._offline_since.get(device_id)
            for rule in self._offline_rules[device.kind.name]:
                assert isinstance(rule.condition, Offline)
                late = (now - last > rule.condition.missed_reports * device.kind.report_interval_s
                        and now - self._started >= rule.condition.settle_s)
                said_offline = (offline_since is not None
                                and now - offline_since >= rule.condition.settle_s)
                if late or said_offline:
                    self._raise(rule, device, now, None, None, decisions)
        return decisions

    # ------------------------------------------------------------------ internals

    def _seen(self, device: DeviceInfo, now: float) -> list[Decision]:
        decisions: list[Decision] = []
        if device.id in self._last_seen:
            self._last_seen[device.id] = max(self._last_seen[device.id], now)
            self._offline_since.pop(device.id, None)
            for rule in self._offline_rules[device.kind.name]:
                self._lower(rule, device, now, decisions)
        return decisions

    def _evaluate(
        self, rule: Rule, device: DeviceInfo, value: float, now: float, out: list[Decision]
    ) -> None:
        condition = rule.condition
        assert isinstance(condition, Threshold)
        key = (rule.id, device.id)
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _Watch()
        watch.value = value
        if watch.firing:
            if condition.clears(value):
                watch.firing = False
                self._lower(rule, device, now, out)
            return
        if not condition.fires(value):
            if watch.pending_since is not None:
                watch.pending_since = None
                self._pending.discard(key)
            return
        if condition.hold_s > 0:
            if watch.pending_since is None:
                watch.pending_since = now
                self._pending.add(key)
                return
            if now - watch.pending_since < condition.hold_s:
                return
            self._pending.discard(key)
        self._start_firing(rule, device, watch, now, out)

    def _start_firing(
        self, rule: Rule, device: DeviceInfo, watch: _Watch, now: float, out: list[Decision]
    ) -> None:
        assert isinstance(rule.condition, Threshold)
        watch.firing = True
        watch.pending_since = None
        self._raise(rule, device, now, rule.condition.metric, watch.value, out)

    def _raise(self, rule: Rule, device: DeviceInfo, now: float, metric: str | None,
               value: float | None, out: list[Decision]) -> None:
        subject = subject_of(rule, device)
        feeding = self._firing.setdefault((rule.id, subject.id), set())
        if device.id in feeding:
            return
        first = not feeding
        feeding.add(device.id)
        if first:
            out.append(Raise(rule, subject, now, device.id, metric, value))

    def _lower(self, rule: Rule, device: DeviceInfo, now: float, out: list[Decision]) -> None:
        subject = subject_of(rule, device)
        key = (rule.id, subject.id)
        feeding = self._firing.get(key)
        if not feeding or device.id not in feeding:
            return
        feeding.discard(device.id)
        if not feeding:
            del self._firing[key]
            out.append(Resolve(rule, subject, now, device.id))

    def firing_devices(self, rule_id: str, subject_id: str) -> frozenset[str]:
        return frozenset(self._firing.get((rule_id, subject_id), ()))
