"""The rules engine: device messages in, alert decisions out. Pure: time is passed in.

Dispatch is by (device kind, metric) and (device kind, event) through dicts, so a reading only
meets the rules that can speak about it. Condition state is kept per (rule, device); an alert
is per (rule, subject), and a subject above device level (a home, a floor) stays raised while
any of its devices still fires. Correlation rules listen to other rules' decisions. The hub
applies the decisions; the engine does no I/O and reads no clock.

All state can be saved with `snapshot()` and brought back with `restore()`, so a `for: 10m`
that had run 8 minutes before a restart fires 2 minutes after it.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from devices.messages import Availability, DeviceEvent, Telemetry
from devices.site import DeviceInfo, Place, PlaceLevel, Site
from rules.schedule import last_occurrence
from rules.schema import (
    Anomaly,
    Composite,
    Correlate,
    EventCondition,
    Inactivity,
    Offline,
    Rate,
    Rule,
    Severity,
    StateAt,
    SubjectLevel,
    Threshold,
)
from rules.windows import RingBuffer, slope_per_minute, zscore

_PLACE_LEVEL = {
    SubjectLevel.UNIT: PlaceLevel.UNIT,
    SubjectLevel.FLOOR: PlaceLevel.FLOOR,
    SubjectLevel.BUILDING: PlaceLevel.BUILDING,
    SubjectLevel.GRID: PlaceLevel.GRID,
}
_DEPTH = {PlaceLevel.GRID: 0, PlaceLevel.BUILDING: 1, PlaceLevel.FLOOR: 2, PlaceLevel.UNIT: 3}
_RATE_POINTS = 32
"""Ring size for rate-of-change windows: a minute of readings every two seconds."""


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
    severity: Severity | None = None
    """Set when a stronger level is passed: the alert escalates to this severity."""


@dataclass(frozen=True, slots=True)
class Resolve:
    rule: Rule
    subject: Subject
    ts: float
    device_id: str


Decision = Raise | Resolve


def place_at(place: Place, level: PlaceLevel) -> Place:
    """The enclosing place at `level`; a place already coarser than that speaks for itself
    (a building's pump in a `unit` rule is about its building)."""
    return place.at(level) if _DEPTH[place.level] >= _DEPTH[level] else place


def subject_of(rule: Rule, device: DeviceInfo) -> Subject:
    if rule.subject is SubjectLevel.DEVICE:
        return Subject(SubjectLevel.DEVICE, device.id, device.place)
    place = place_at(device.place, _PLACE_LEVEL[rule.subject])
    return Subject(rule.subject, place.id, place)


class _Watch:
    """Condition state of one rule on one device."""

    __slots__ = ("firing", "level", "pending_since", "streak", "value")

    def __init__(self) -> None:
        self.firing = False
        self.pending_since: float | None = None
        self.value = 0.0
        self.streak = 0
        self.level = 0


class RulesEngine:
    def __init__(self, site: Site, rules: Iterable[Rule], *, started: float) -> None:
        self._site = site
        self._zone = ZoneInfo(site.timezone)
        self._started = started
        self.rules = {r.id: r for r in rules}
        self._care_units = frozenset(r.unit.id for r in site.residents)
        # Dispatch tables.
        # kind -> metric -> (rule, its condition, whether it applies to some devices only):
        # two lookups of interned strings per reading, no key tuple.
        self._by_metric: dict[str, dict[str, list[tuple[Rule, object, bool]]]] = \
            defaultdict(dict)
        self._by_event: dict[tuple[str, str], list[Rule]] = defaultdict(list)
        self._offline_rules: dict[str, list[Rule]] = defaultdict(list)
        self._correlations: dict[str, list[Rule]] = defaultdict(list)
        self._inactivity: list[Rule] = []
        self._state_at: list[Rule] = []
        for rule in self.rules.values():
            c = rule.condition
            kinds = sorted(rule.kinds)
            if isinstance(c, Offline):
                for kind in kinds:
                    self._offline_rules[kind].append(rule)
            elif isinstance(c, EventCondition):
                for kind in kinds:
                    self._by_event[(kind, c.event)].append(rule)
            elif isinstance(c, Correlate):
                for source in sorted(c.rules):
                    self._correlations[source].append(rule)
            else:
                metrics: Iterable[str]
                if isinstance(c, Inactivity):
                    metrics = [m for m, _ in c.activity]
                    self._inactivity.append(rule)
                elif isinstance(c, Composite):
                    metrics = sorted(c.metrics)
                else:
                    metrics = [c.metric]
                if isinstance(c, StateAt):
                    self._state_at.append(rule)
                for kind in kinds:
                    for metric in metrics:
                        self._by_metric[kind].setdefault(metric, []).append(
                            (rule, c, bool(rule.rooms or rule.residents_only)))
        self._watches: dict[tuple[str, str], _Watch] = {}
        # subject_of builds a Subject (and walks the place tree) each call; the site is fixed
        # for the engine's life, so each (rule, device) pair needs it once.
        self._subjects_of: dict[tuple[str, str], Subject] = {}
        self._applicable: dict[tuple[str, str], bool] = {}
        self._pending: set[tuple[str, str]] = set()
        # Devices feeding each raised alert; the alert clears when the set empties.
        self._firing: dict[tuple[str, str], set[str]] = {}
        self._last_seen: dict[str, float] = {
            d: started for d, info in site.devices.items() if info.kind.name in self._offline_rules
        }
        self._offline_since: dict[str, float] = {}
        # Devices that may feed an offline alert (a superset): any path that adds a device
        # to an Offline rule's firing set adds it here, and only these need lowering when
        # the device speaks again.
        self._maybe_offline: set[str] = set()
        # Newest reading time per device: an older reading arriving late (a gateway emptying
        # its buffer) is stored, but must not raise or clear what is true now.
        self._newest: dict[str, float] = {}
        self._buffers: dict[tuple[str, str], RingBuffer] = {}
        self._latest: dict[str, dict[str, float]] = {}
        self._events: dict[tuple[str, str], deque[float]] = {}
        self._activity: dict[tuple[str, str], float] = {}
        self._state_checked = started
        self._last_tick = started
        # Correlation: (rule, place) -> source device -> when it started firing.
        self._sources: dict[tuple[str, str], dict[str, float]] = {}
        self._population: dict[tuple[str, str], int] = {}
        # Devices that started or stopped firing a rule some correlation listens to; a
        # device joining an already raised alert still counts as a second source.
        self._source_changes: list[tuple[str, str, bool]] = []
        self._subjects = self._inactivity_subjects()

    # ------------------------------------------------------------------ applicability

    def applies(self, rule: Rule, device: DeviceInfo) -> bool:
        if rule.rooms and device.room not in rule.rooms:
            return False
        if rule.residents_only:
            unit = device.place.at(PlaceLevel.UNIT) if device.place.unit else None
            return unit is not None and unit.id in self._care_units
        return True

    def _in_window(self, rule: Rule, now: float) -> bool:
        return rule.window is None or rule.window.contains(now, self._zone)

    def _inactivity_subjects(self) -> dict[tuple[str, str], Subject]:
        subjects: dict[tuple[str, str], Subject] = {}
        for rule in self._inactivity:
            for device in self._site.devices.values():
                if device.kind.name in rule.kinds and self.applies(rule, device):
                    subject = subject_of(rule, device)
                    subjects[(rule.id, subject.id)] = subject
                    self._activity.setdefault((rule.id, subject.id), self._started)
        return subjects

    # ------------------------------------------------------------------ restart support

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
        if isinstance(rule.condition, Threshold | Rate | Anomaly | Composite):
            watch = self._watches.setdefault((rule_id, device_id), _Watch())
            watch.firing = True
        self._firing.setdefault((rule_id, subject_of(rule, device).id), set()).add(device_id)
        if isinstance(rule.condition, Offline):
            self._maybe_offline.add(device_id)

    def forget(self, rule_id: str, subject_id: str) -> None:
        """A person cleared the alert: the next trigger raises a new one."""
        if (rule_id, subject_id) in self._activity:
            # Someone has just been to see them: a new quiet period starts now.
            self._activity[(rule_id, subject_id)] = self._last_tick
        devices = self._firing.pop((rule_id, subject_id), set())
        for device_id in devices:
            watch = self._watches.get((rule_id, device_id))
            if watch is not None:
                watch.firing = False
                watch.streak = 0
            self._events.pop((rule_id, device_id), None)

    # ------------------------------------------------------------------ inputs

    def on_telemetry(self, telemetry: Telemetry, now: float) -> list[Decision]:
        device = self._site.devices[telemetry.device_id]
        decisions = self._seen(device, now)
        newest = self._newest.get(device.id)
        if newest is not None and telemetry.ts < newest:
            return decisions
        self._newest[device.id] = telemetry.ts
        by_metric = self._by_metric.get(device.kind.name)
        if by_metric is None:
            return self._cascade(decisions, now)
        # A composite is judged once the whole message is in: with one metric new and the
        # other still the last message's, an `all` would raise and resolve on a state that
        # never was.
        composites: dict[str, tuple[Rule, str, float]] | None = None
        for metric, value in telemetry.values:
            entries = by_metric.get(metric)
            if entries:
                for rule, condition, narrowed in entries:
                    if narrowed and not self._applies_to(rule, device):
                        continue
                    if type(condition) is Threshold:
                        self._threshold(rule, condition, device, value, now, decisions)
                    elif type(condition) is Composite:
                        self._latest.setdefault(device.id, {})[metric] = value
                        if composites is None:
                            composites = {}
                        composites[rule.id] = (rule, metric, value)
                    else:
                        self._evaluate(rule, device, metric, value, now, decisions)
        if composites:
            for rule, metric, value in composites.values():
                self._evaluate(rule, device, metric, value, now, decisions)
        return self._cascade(decisions, now)

    def _applies_to(self, rule: Rule, device: DeviceInfo) -> bool:
        """`applies`, remembered: rooms and the care programme are fixed for the engine."""
        key = (rule.id, device.id)
        applies = self._applicable.get(key)
        if applies is None:
            applies = self._applicable[key] = self.applies(rule, device)
        return applies

    def on_event(self, event: DeviceEvent, now: float) -> list[Decision]:
        device = self._site.devices[event.device_id]
        decisions = self._seen(device, now)
        for rule in self._by_event.get((device.kind.name, event.type), ()):
            if not self.applies(rule, device) or not self._in_window(rule, now):
                continue
            condition = rule.condition
            assert isinstance(condition, EventCondition)
            times = self._events.setdefault((rule.id, device.id), deque())
            times.append(now)
            while times and now - times[0] > condition.within_s and len(times) > 1:
                times.popleft()
            if len(times) >= condition.count:
                self._raise(rule, device, now, None, float(len(times)), decisions)
        return self._cascade(decisions, now)

    def on_availability(self, availability: Availability, now: float) -> list[Decision]:
        device = self._site.devices[availability.device_id]
        if availability.online:
            return self._cascade(self._seen(device, now), now)
        if device.id in self._last_seen:
            self._offline_since.setdefault(device.id, now)
        return []

    def tick(self, now: float) -> list[Decision]:
        """Time-driven conditions: held conditions, quiet devices and homes, daily checks."""
        decisions: list[Decision] = []
        self._last_tick = max(self._last_tick, now)
        self._tick_pending(now, decisions)
        self._tick_offline(now, decisions)
        self._tick_events(now, decisions)
        self._tick_inactivity(now, decisions)
        self._tick_state_at(now, decisions)
        return self._cascade(decisions, now)

    # ------------------------------------------------------------------ telemetry conditions

    def _evaluate(self, rule: Rule, device: DeviceInfo, metric: str, value: float, now: float,
                  out: list[Decision]) -> None:
        c = rule.condition
        if isinstance(c, Threshold):
            self._threshold(rule, c, device, value, now, out)
        elif isinstance(c, Rate):
            self._rate(rule, c, device, value, now, out)
        elif isinstance(c, Anomaly):
            self._anomaly(rule, c, device, value, now, out)
        elif isinstance(c, Composite):
            self._composite(rule, c, device, metric, value, now, out)
        elif isinstance(c, Inactivity):
            if (metric, value) in c.activity:
                subject = self._subject(rule, device)
                self._activity[(rule.id, subject.id)] = now
                self._lower(rule, device, now, out, whole_subject=True)
        elif isinstance(c, StateAt) and metric == c.metric:
            latest = self._latest.setdefault(device.id, {})
            latest[metric] = value
            if value != c.value:
                self._lower(rule, device, now, out)

    def _subject(self, rule: Rule, device: DeviceInfo) -> Subject:
        key = (rule.id, device.id)
        subject = self._subjects_of.get(key)
        if subject is None:
            subject = self._subjects_of[key] = subject_of(rule, device)
        return subject

    def _watch(self, rule: Rule, device: DeviceInfo) -> _Watch:
        key = (rule.id, device.id)
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _Watch()
        return watch

    def _threshold(self, rule: Rule, c: Threshold, device: DeviceInfo, value: float, now: float,
                   out: list[Decision]) -> None:
        watch = self._watch(rule, device)
        watch.value = value
        if watch.firing:
            if c.clears(value):
                watch.firing = False
                watch.streak = 0
                self._lower(rule, device, now, out)
            elif c.levels:
                severity = c.severity_for(value, rule.severity)
                if severity.rank > watch.level:
                    watch.level = severity.rank
                    out.append(Raise(rule, self._subject(rule, device), now, device.id, c.metric,
                                     value, severity))
            return
        if not c.fires(value):
            watch.streak = 0
            self._unpend(rule, device, watch)
            return
        watch.streak += 1
        if watch.streak < c.times:
            return
        if self._held(rule, device, watch, c.hold_s, now):
            self._fire_in_window(rule, device, watch, now, out)

    def _fire_in_window(self, rule: Rule, device: DeviceInfo, watch: _Watch, now: float,
                        out: list[Decision]) -> None:
        """Raise now, or — outside the rule's daily window — keep the condition pending so
        `tick` raises it when the window opens (a door opened at 21:55 and still open at
        22:00 is a door open at night)."""
        if self._in_window(rule, now):
            self._start_firing(rule, device, watch, now, out)
        else:
            self._pending.add((rule.id, device.id))
            if watch.pending_since is None:
                watch.pending_since = now

    def _held(self, rule: Rule, device: DeviceInfo, watch: _Watch, hold_s: float, now: float
              ) -> bool:
        """True once the condition has held `hold_s`; otherwise (re)arms the timer for tick."""
        if hold_s <= 0:
            return True
        if watch.pending_since is None:
            watch.pending_since = now
            self._pending.add((rule.id, device.id))
            return False
        if now - watch.pending_since < hold_s:
            return False
        self._pending.discard((rule.id, device.id))
        return True

    def _unpend(self, rule: Rule, device: DeviceInfo, watch: _Watch) -> None:
        if watch.pending_since is not None:
            watch.pending_since = None
            self._pending.discard((rule.id, device.id))

    def _rate(self, rule: Rule, c: Rate, device: DeviceInfo, value: float, now: float,
              out: list[Decision]) -> None:
        key = (rule.id, device.id)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = RingBuffer(_RATE_POINTS)
        buffer.append(now, value)
        slope = slope_per_minute(*buffer.since(now - c.window_s))
        watch = self._watch(rule, device)
        watch.value = value
        if slope is None:
            # Too few points left in the window: the change is no longer being observed.
            if watch.firing:
                watch.firing = False
                self._lower(rule, device, now, out)
            return
        if watch.firing:
            if c.clears(slope):
                watch.firing = False
                self._lower(rule, device, now, out)
        elif c.fires(slope) and self._in_window(rule, now):
            watch.firing = True
            self._raise(rule, device, now, c.metric, round(slope, 3), out)

    def _anomaly(self, rule: Rule, c: Anomaly, device: DeviceInfo, value: float, now: float,
                 out: list[Decision]) -> None:
        key = (rule.id, device.id)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = RingBuffer(c.samples)
        z = zscore(value, buffer.values[: len(buffer)]) if len(buffer) >= c.min_samples else None
        buffer.append(now, value)
        if z is None:
            return
        watch = self._watch(rule, device)
        watch.value = value
        if watch.firing:
            if z < c.clear_z:
                watch.firing = False
                self._lower(rule, device, now, out)
        elif z >= c.z and self._in_window(rule, now):
            watch.firing = True
            self._raise(rule, device, now, None, value, out)

    def _composite(self, rule: Rule, c: Composite, device: DeviceInfo, metric: str,
                   value: float, now: float, out: list[Decision]) -> None:
        latest = self._latest.setdefault(device.id, {})
        latest[metric] = value
        watch = self._watch(rule, device)
        watch.value = value
        holds = c.check.check(latest)
        if watch.firing:
            if not holds:
                watch.firing = False
                self._lower(rule, device, now, out)
            return
        if not holds:
            self._unpend(rule, device, watch)
            return
        if self._held(rule, device, watch, c.hold_s, now):
            self._fire_in_window(rule, device, watch, now, out)

    # ------------------------------------------------------------------ time conditions

    def _tick_pending(self, now: float, out: list[Decision]) -> None:
        for key in list(self._pending):
            rule_id, device_id = key
            watch = self._watches[key]
            rule = self.rules[rule_id]
            c = rule.condition
            assert isinstance(c, Threshold | Composite)
            assert watch.pending_since is not None
            if now - watch.pending_since >= c.hold_s and self._in_window(rule, now):
                self._pending.discard(key)
                self._start_firing(rule, self._site.devices[device_id], watch, now, out)

    def _tick_offline(self, now: float, out: list[Decision]) -> None:
        for device_id, last in self._last_seen.items():
            device = self._site.devices[device_id]
            offline_since = self._offline_since.get(device_id)
            for rule in self._offline_rules[device.kind.name]:
                c = rule.condition
                assert isinstance(c, Offline)
                late = (now - last > c.missed_reports * device.kind.report_interval_s
                        and now - self._started >= c.settle_s)
                said_offline = offline_since is not None and now - offline_since >= c.settle_s
                if (late or said_offline) and self.applies(rule, device):
                    self._raise(rule, device, now, None, None, out)

    def _tick_events(self, now: float, out: list[Decision]) -> None:
        for (rule_id, device_id), times in list(self._events.items()):
            c = self.rules[rule_id].condition
            assert isinstance(c, EventCondition)
            if c.clear_after_s is not None and times and now - times[-1] >= c.clear_after_s:
                del self._events[(rule_id, device_id)]
                self._lower(self.rules[rule_id], self._site.devices[device_id], now, out)

    def _tick_inactivity(self, now: float, out: list[Decision]) -> None:
        for (rule_id, subject_id), subject in self._subjects.items():
            rule = self.rules[rule_id]
            c = rule.condition
            assert isinstance(c, Inactivity)
            if (rule_id, subject_id) in self._firing:
                continue
            since = self._activity[(rule_id, subject_id)]
            if rule.window is not None:
                if not rule.window.contains(now, self._zone):
                    continue
                since = max(since, rule.window.opened_at(now, self._zone))
            if now - since >= c.quiet_s:
                self._firing[(rule_id, subject_id)] = {subject_id}
                out.append(Raise(rule, subject, now, subject_id, None, round(now - since)))

    def _tick_state_at(self, now: float, out: list[Decision]) -> None:
        checked, self._state_checked = self._state_checked, now
        for rule in self._state_at:
            c = rule.condition
            assert isinstance(c, StateAt)
            moment = last_occurrence(c.at, now, self._zone)
            if not checked < moment <= now:
                continue
            for device in self._site.devices.values():
                if device.kind.name not in rule.kinds or not self.applies(rule, device):
                    continue
                if self._latest.get(device.id, {}).get(c.metric) == c.value:
                    self._raise(rule, device, now, c.metric, c.value, out)

    # ------------------------------------------------------------------ correlation

    def _cascade(self, decisions: list[Decision], now: float) -> list[Decision]:
        """Feed source changes to the correlation rules listening to them (one level)."""
        if not self._source_changes:
            return decisions
        changes, self._source_changes = self._source_changes, []
        extra: list[Decision] = []
        for source_rule, device_id, firing in changes:
            for rule in self._correlations.get(source_rule, ()):
                self._correlate(rule, self._site.devices[device_id], firing, now, extra)
        return decisions + extra

    def _correlate(self, rule: Rule, device: DeviceInfo, source_firing: bool, now: float,
                   out: list[Decision]) -> None:
        c = rule.condition
        assert isinstance(c, Correlate)
        subject = self._subject(rule, device)
        key = (rule.id, subject.id)
        sources = self._sources.setdefault(key, {})
        if source_firing:
            sources.setdefault(device.id, now)
        else:
            sources.pop(device.id, None)
        firing = key in self._firing
        if c.share is None:
            assert c.min_devices is not None
            recent = sum(1 for since in sources.values() if now - since <= c.within_s)
            if not firing and recent >= c.min_devices:
                self._firing[key] = set(sources)
                out.append(Raise(rule, subject, now, device.id, None, float(len(sources))))
            elif firing and not sources:
                del self._firing[key]
                out.append(Resolve(rule, subject, now, device.id))
            elif firing:
                self._firing[key] = set(sources)
            return
        share = len(sources) / max(1, self._population_of(rule, subject))
        enough = share >= c.share and len(sources) >= (c.min_devices or 1)
        if not firing and enough:
            self._firing[key] = set(sources)
            out.append(Raise(rule, subject, now, device.id, None, round(share, 3)))
        elif firing and not enough:
            del self._firing[key]
            out.append(Resolve(rule, subject, now, device.id))

    def _population_of(self, rule: Rule, subject: Subject) -> int:
        key = (rule.id, subject.id)
        count = self._population.get(key)
        if count is None:
            count = sum(1 for d in self._site.devices.values()
                        if d.kind.name in rule.kinds and subject_of(rule, d).id == subject.id)
            self._population[key] = count
        return count

    # ------------------------------------------------------------------ raising and lowering

    def _seen(self, device: DeviceInfo, now: float) -> list[Decision]:
        decisions: list[Decision] = []
        if device.id in self._last_seen:
            self._last_seen[device.id] = max(self._last_seen[device.id], now)
            self._offline_since.pop(device.id, None)
            if device.id in self._maybe_offline:  # on every message: skip the rules if not
                self._maybe_offline.discard(device.id)
                for rule in self._offline_rules[device.kind.name]:
                    self._lower(rule, device, now, decisions)
        return decisions

    def _start_firing(self, rule: Rule, device: DeviceInfo, watch: _Watch, now: float,
                      out: list[Decision]) -> None:
        c = rule.condition
        watch.firing = True
        watch.pending_since = None
        severity = None
        if isinstance(c, Threshold) and c.levels:
            stronger = c.severity_for(watch.value, rule.severity)
            watch.level = stronger.rank
            severity = stronger if stronger is not rule.severity else None
        metric = c.metric if isinstance(c, Threshold) else None
        self._raise(rule, device, now, metric, watch.value, out, severity)

    def _raise(self, rule: Rule, device: DeviceInfo, now: float, metric: str | None,
               value: float | None, out: list[Decision], severity: Severity | None = None
               ) -> None:
        subject = self._subject(rule, device)
        feeding = self._firing.setdefault((rule.id, subject.id), set())
        if device.id in feeding:
            return
        first = not feeding
        feeding.add(device.id)
        if type(rule.condition) is Offline:
            self._maybe_offline.add(device.id)
        if rule.id in self._correlations:
            self._source_changes.append((rule.id, device.id, True))
        # A device joining a raised alert past a stronger level still escalates it (a second
        # gas detector in the home at 45 %LEL makes the home's alert critical).
        if first or severity is not None:
            out.append(Raise(rule, subject, now, device.id, metric, value, severity))

    def _lower(self, rule: Rule, device: DeviceInfo, now: float, out: list[Decision], *,
               whole_subject: bool = False) -> None:
        subject = self._subject(rule, device)
        key = (rule.id, subject.id)
        feeding = self._firing.get(key)
        if not feeding:
            return
        if whole_subject:
            feeding.clear()
        elif device.id in feeding:
            feeding.discard(device.id)
            if rule.id in self._correlations:
                self._source_changes.append((rule.id, device.id, False))
        else:
            return
        if not feeding:
            del self._firing[key]
            out.append(Resolve(rule, subject, now, device.id))

    def firing_devices(self, rule_id: str, subject_id: str) -> frozenset[str]:
        return frozenset(self._firing.get((rule_id, subject_id), ()))

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> dict[str, Any]:
        """Everything a restart must not forget, as plain JSON-able data."""
        return {
            "watches": {f"{r}|{d}": [w.firing, w.pending_since, w.streak, w.level, w.value]
                        for (r, d), w in self._watches.items()
                        if w.firing or w.pending_since is not None or w.streak},
            "firing": {f"{r}|{s}": sorted(devs) for (r, s), devs in self._firing.items()},
            "last_seen": self._last_seen,
            "offline_since": self._offline_since,
            "newest": self._newest,
            "latest": self._latest,
            "events": {f"{r}|{d}": list(t) for (r, d), t in self._events.items()},
            "activity": {f"{r}|{s}": t for (r, s), t in self._activity.items()},
            "sources": {f"{r}|{s}": src for (r, s), src in self._sources.items() if src},
            "buffers": {f"{r}|{d}": b.to_lists() for (r, d), b in self._buffers.items()},
            "state_checked": self._state_checked,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Bring back a snapshot taken by an engine over the same site (unknown ids skipped)."""
        devices, rules = self._site.devices, self.rules

        def split(key: str) -> tuple[str, str]:
            rule_id, _, other = key.partition("|")
            return rule_id, other

        for key, (firing, pending, streak, level, value) in snapshot.get("watches", {}).items():
            rule_id, device_id = split(key)
            if rule_id in rules and device_id in devices:
                # A rule edited into another type of condition keeps its id, not its timer.
                holds = isinstance(rules[rule_id].condition, Threshold | Composite)
                since = pending if holds else None
                w = self._watches.setdefault((rule_id, device_id), _Watch())
                w.firing, w.pending_since, w.streak, w.level = firing, since, streak, level
                w.value = value
                if since is not None and not firing:
                    self._pending.add((rule_id, device_id))
        for key, devs in snapshot.get("firing", {}).items():
            rule_id, subject_id = split(key)
            # A device gone from the site can never clear what it fed; an inactivity alert is
            # fed by its subject.
            known = {d for d in devs if d in devices or (rule_id, d) in self._subjects}
            if rule_id in rules and known:
                self._firing[(rule_id, subject_id)] = known
                if isinstance(rules[rule_id].condition, Offline):
                    self._maybe_offline.update(known)
        for device_id, ts in snapshot.get("last_seen", {}).items():
            if device_id in self._last_seen:
                self._last_seen[device_id] = ts
        self._offline_since.update({d: t for d, t in snapshot.get("offline_since", {}).items()
                                    if d in self._last_seen})
        self._newest.update({d: t for d, t in snapshot.get("newest", {}).items() if d in devices})
        self._latest.update({d: dict(v) for d, v in snapshot.get("latest", {}).items()
                             if d in devices})
        for key, times in snapshot.get("events", {}).items():
            rule_id, device_id = split(key)
            if (rule_id in rules and isinstance(rules[rule_id].condition, EventCondition)
                    and device_id in devices):
                self._events[(rule_id, device_id)] = deque(times)
        for key, ts in snapshot.get("activity", {}).items():
            rule_id, subject_id = split(key)
            if (rule_id, subject_id) in self._activity:
                self._activity[(rule_id, subject_id)] = ts
        for key, src in snapshot.get("sources", {}).items():
            rule_id, subject_id = split(key)
            if rule_id in rules:
                self._sources[(rule_id, subject_id)] = {d: t for d, t in src.items()
                                                        if d in devices}
        for key, (ts_list, values) in snapshot.get("buffers", {}).items():
            rule_id, device_id = split(key)
            rule = rules.get(rule_id)
            if rule is None or device_id not in devices:
                continue
            c = rule.condition
            size = c.samples if isinstance(c, Anomaly) else _RATE_POINTS
            buffer = self._buffers[(rule_id, device_id)] = RingBuffer(size)
            for ts, value in zip(ts_list, values, strict=True):
                buffer.append(ts, value)
        self._state_checked = max(self._state_checked, snapshot.get("state_checked", 0.0))
