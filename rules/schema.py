"""Rule packs as YAML: validated with pydantic, then frozen into `Rule`s for the engine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from devices.catalog import CATALOG, ValueType
from devices.yamlsource import ConfigError, Path, format_path, parse_yaml, validation_error
from rules.schedule import DailyWindow, parse_clock


class Severity(Enum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse; for sorting boards and picking the stronger of two."""
        return _RANK[self]


_RANK = {Severity.CRITICAL: 4, Severity.MAJOR: 3, Severity.MINOR: 2, Severity.WARNING: 1,
         Severity.INFO: 0}


class Category(Enum):
    FIRE = "fire"
    GAS = "gas"
    FLOOD = "flood"
    ELDERLY_CARE = "elderly_care"
    SECURITY = "security"
    EQUIPMENT = "equipment"
    POWER = "power"
    DEVICE = "device"


class SubjectLevel(Enum):
    """The place an alert speaks about; several devices may feed one alert about a unit."""

    DEVICE = "device"
    UNIT = "unit"
    FLOOR = "floor"
    BUILDING = "building"
    GRID = "grid"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """`30s`, `10m`, `1.5h`, `2d` or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration (write e.g. 30s, 10m, 2h)")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, Field(ge=0)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _HoldMixin(_Spec):
    hold: Duration = Field(0.0, alias="for")
    """The condition must hold this long before the alert is raised."""

    @field_validator("hold", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class ThresholdSpec(_HoldMixin):
    type: Literal["threshold"]
    metric: str
    above: float | None = None
    below: float | None = None
    clear_below: float | None = None
    """Hysteresis: with `above`, the alert clears only when the value drops below this."""
    clear_above: float | None = None
    times: int = Field(1, ge=1, le=1000)
    """Raise only after this many readings in a row past the level."""
    levels: dict[Severity, float] = {}
    """Stronger levels escalate the same alert, e.g. `{critical: 50}` for gas above 50 %LEL."""

    @model_validator(mode="after")
    def _one_side(self) -> ThresholdSpec:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of `above` or `below`")
        if self.above is not None and self.clear_below is not None and (
                self.clear_below > self.above):
            raise ValueError("clear_below must not be above `above`")
        if self.below is not None and self.clear_above is not None and (
                self.clear_above < self.below):
            raise ValueError("clear_above must not be below `below`")
        if self.above is not None and self.clear_above is not None:
            raise ValueError("with `above`, clear with `clear_below`")
        if self.below is not None and self.clear_below is not None:
            raise ValueError("with `below`, clear with `clear_above`")
        level = self.above if self.above is not None else self.below
        assert level is not None
        for severity, stronger in self.levels.items():
            if (self.above is not None and stronger < level) or (
                    self.below is not None and stronger > level):
                raise ValueError(f"level {severity.value}: {stronger:g} is weaker than the "
                                 f"raise level {level:g}")
        return self


class OfflineSpec(_Spec):
    type: Literal["offline"]
    missed_reports: float = Field(2.0, gt=0)
    """Late after this many report intervals of the device kind with no message."""
    settle: Duration = 60.0
    """An `offline` message must stand this long: a flapping link does not flap the alert."""

    @field_validator("settle", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


def _durations(*names: str) -> Any:
    return field_validator(*names, mode="before")(lambda cls, v: parse_duration(v))


class RateSpec(_Spec):
    """Rate of change over a window (least-squares slope), per minute."""

    type: Literal["rate"]
    metric: str
    rise_per_min: float | None = Field(None, gt=0)
    fall_per_min: float | None = Field(None, gt=0)
    window: Duration = 60.0
    clear_ratio: float = Field(0.5, gt=0, le=1)
    """Clears when the slope falls under this share of the raise level (hysteresis)."""
    _window = _durations("window")

    @model_validator(mode="after")
    def _one_direction(self) -> RateSpec:
        if (self.rise_per_min is None) == (self.fall_per_min is None):
            raise ValueError("give exactly one of `rise_per_min` or `fall_per_min`")
        return self


class AnomalySpec(_Spec):
    """A reading far from the device's own rolling baseline (z-score)."""

    type: Literal["anomaly"]
    metric: str
    z: float = Field(4.0, gt=0)
    clear_z: float = Field(2.0, gt=0)
    samples: int = Field(60, ge=5, le=1024)
    """How many recent readings make the baseline."""
    min_samples: int = Field(20, ge=3)

    @model_validator(mode="after")
    def _sane(self) -> AnomalySpec:
        if self.clear_z > self.z:
            raise ValueError("clear_z must not be above z")
        if self.min_samples > self.samples:
            raise ValueError("min_samples must not exceed samples")
        return self


class InactivitySpec(_Spec):
    """No sign of life in the subject for a while (elderly care); see the rule's `between`."""

    type: Literal["inactivity"]
    activity: dict[str, bool]
    """Which readings are a sign of life, e.g. `{occupancy: true, contact: false}`."""
    quiet: Duration = Field(alias="for")
    _quiet = _durations("quiet")


class StateAtSpec(_Spec):
    """At a local time each day the metric still has a value: `in_bed` true at 09:30."""

    type: Literal["state_at"]
    metric: str
    value: bool
    at: str

    @field_validator("at")
    @classmethod
    def _clock(cls, value: str) -> str:
        parse_clock(value)
        return value


class EventSpec(_Spec):
    type: Literal["event"]
    event: str
    count: int = Field(1, ge=1, le=1000)
    within: Duration = 0.0
    """With count > 1: that many events inside this window."""
    clear_after: Duration | None = None
    """Clear by itself after this long without another event; without it, a person clears."""
    _within = _durations("within")

    @field_validator("clear_after", mode="before")
    @classmethod
    def _clear_after(cls, value: object) -> float | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _window_for_count(self) -> EventSpec:
        if self.count > 1 and self.within <= 0:
            raise ValueError("with count > 1, give `within` (e.g. 5m)")
        return self


class CorrelateSpec(_Spec):
    """Several devices in one place, from other rules: a confirmed fire, a building outage."""

    type: Literal["correlate"]
    rules: list[str] = Field(min_length=1)
    min_devices: int | None = Field(None, ge=2)
    within: Duration = 120.0
    share: float | None = Field(None, gt=0, le=1)
    """Share of the rule's `kinds` in the place that must be affected at once; with it,
    `min_devices` is a floor (one camera of two is not a building outage)."""
    _within = _durations("within")

    @model_validator(mode="after")
    def _a_mode(self) -> CorrelateSpec:
        if self.min_devices is None and self.share is None:
            raise ValueError("give `min_devices` (devices within `within`) or `share`")
        return self


class CompareSpec(_Spec):
    metric: str
    above: float | None = None
    below: float | None = None
    equals: float | bool | None = None

    @model_validator(mode="after")
    def _one(self) -> CompareSpec:
        if sum(v is not None for v in (self.above, self.below, self.equals)) != 1:
            raise ValueError("give exactly one of `above`, `below` or `equals`")
        return self


class CheckSpec(_Spec):
    """One node of an all/any/not tree: either a comparison or a group."""

    metric: str | None = None
    above: float | None = None
    below: float | None = None
    equals: float | bool | None = None
    all: list[CheckSpec] | None = None
    any: list[CheckSpec] | None = None
    not_: CheckSpec | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _shape(self) -> CheckSpec:
        groups = sum(g is not None for g in (self.all, self.any, self.not_))
        if groups > 1 or (groups == 1 and self.metric is not None):
            raise ValueError("a check is one of: a comparison, `all`, `any` or `not`")
        if groups == 0:
            CompareSpec.model_validate(
                {"metric": self.metric, "above": self.above, "below": self.below,
                 "equals": self.equals})
        return self


class CompositeSpec(_HoldMixin):
    type: Literal["all", "any", "not"]
    of: list[CheckSpec] = Field(min_length=1)


ConditionSpecType = (ThresholdSpec | OfflineSpec | RateSpec | AnomalySpec | InactivitySpec
                     | StateAtSpec | EventSpec | CorrelateSpec | CompositeSpec)
ConditionSpec = Annotated[
    ThresholdSpec | OfflineSpec | RateSpec | AnomalySpec | InactivitySpec | StateAtSpec
    | EventSpec | CorrelateSpec | CompositeSpec,
    Field(discriminator="type"),
]


class MessageSpec(_Spec):
    zh: str
    en: str


class RuleSpec(_Spec):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
    category: Category
    severity: Severity
    subject: SubjectLevel = SubjectLevel.DEVICE
    message: MessageSpec
    # Before `kinds`, so the kinds check below can see which metrics the condition reads.
    condition: ConditionSpec
    kinds: list[str] = []
    rooms: list[str] = []
    """Only devices in these rooms (`bathroom`, `kitchen` ...), as the site file names them."""
    residents_only: bool = False
    """Only homes with a resident in the elderly-care programme."""
    between: tuple[str, str] | None = None
    """Raise only inside this daily window of local time, e.g. ["22:00", "06:00"]."""
    inhibits: list[str] = []
    """While this alert is active, these rules' alerts inside its place are muted."""
    enabled: bool = True

    @field_validator("kinds")
    @classmethod
    def _kinds_fit_condition(cls, kinds: list[str], info: ValidationInfo) -> list[str]:
        unknown = [k for k in kinds if k not in CATALOG]
        if unknown:
            raise ValueError(f"unknown device kind(s) {unknown}; known: {', '.join(CATALOG)}")
        condition = info.data.get("condition")
        if condition is None:
            return kinds  # the condition itself was invalid; that error is reported
        if not kinds and not (isinstance(condition, CorrelateSpec)
                              and condition.share is None):
            raise ValueError("give the device kinds this rule watches (at least 1 item)")
        if isinstance(condition, InactivitySpec):
            # Signs of life come from different kinds: motion from one, the door from another.
            for metric in condition.activity:
                if not any(metric in CATALOG[k].metrics for k in kinds):
                    raise ValueError(f"none of the kinds {kinds} reports {metric!r}")
            return kinds
        for metric in _metrics_of(condition):
            for kind in kinds:
                spec = CATALOG[kind].metrics.get(metric)
                if spec is None:
                    raise ValueError(f"device kind {kind!r} has no metric {metric!r} "
                                     f"(has: {', '.join(CATALOG[kind].metrics)})")
                if (isinstance(condition, ThresholdSpec) and spec.type is ValueType.BOOL
                        and condition.below is not None and condition.below > 1):
                    raise ValueError(f"{metric} is true/false (1/0); `below` must be <= 1")
        if isinstance(condition, EventSpec):
            for kind in kinds:
                if condition.event not in CATALOG[kind].events:
                    known = ", ".join(sorted(CATALOG[kind].events)) or "none"
                    raise ValueError(f"device kind {kind!r} has no event {condition.event!r} "
                                     f"(has: {known})")
        return kinds

    @field_validator("between")
    @classmethod
    def _window(cls, value: tuple[str, str] | None) -> tuple[str, str] | None:
        if value is not None:
            parse_clock(value[0])
            parse_clock(value[1])
        return value

    @model_validator(mode="after")
    def _levels_escalate(self) -> RuleSpec:
        if isinstance(self.condition, ThresholdSpec):
            for severity in self.condition.levels:
                if severity.rank <= self.severity.rank:
                    raise ValueError(f"level {severity.value!r} is not stronger than the "
                                     f"rule's severity {self.severity.value!r}: levels only "
                                     "escalate")
        return self


def _metrics_of(condition: object) -> list[str]:
    if isinstance(condition, ThresholdSpec | RateSpec | AnomalySpec | StateAtSpec):
        return [condition.metric]
    if isinstance(condition, InactivitySpec):
        return list(condition.activity)
    if isinstance(condition, CompositeSpec):
        out: list[str] = []
        stack = list(condition.of)
        while stack:
            check = stack.pop()
            if check.metric is not None:
                out.append(check.metric)
            stack += [*(check.all or []), *(check.any or []),
                      *([check.not_] if check.not_ else [])]
        return out
    return []


class RulePackSpec(_Spec):
    pack: str
    description: str | None = None
    rules: list[RuleSpec]


# ------------------------------------------------------------ frozen rules for the engine

@dataclass(frozen=True, slots=True)
class Threshold:
    metric: str
    above: bool
    """True: fires when value >= level; False: fires when value <= level."""
    level: float
    clear_level: float
    hold_s: float
    times: int = 1
    levels: tuple[tuple[float, Severity], ...] = ()
    """(level, severity), weakest first: passing one escalates the alert."""

    def fires(self, value: float) -> bool:
        return value >= self.level if self.above else value <= self.level

    def clears(self, value: float) -> bool:
        return value < self.clear_level if self.above else value > self.clear_level

    def severity_for(self, value: float, base: Severity) -> Severity:
        severity = base
        for level, stronger in self.levels:
            if (value >= level) if self.above else (value <= level):
                severity = stronger
        return severity


@dataclass(frozen=True, slots=True)
class Offline:
    missed_reports: float
    settle_s: float


@dataclass(frozen=True, slots=True)
class Rate:
    metric: str
    per_min: float
    """Positive: a rise of at least this per minute; negative: a fall."""
    window_s: float
    clear_ratio: float

    def fires(self, slope: float) -> bool:
        return slope >= self.per_min if self.per_min > 0 else slope <= self.per_min

    def clears(self, slope: float) -> bool:
        limit = self.per_min * self.clear_ratio
        return slope < limit if self.per_min > 0 else slope > limit


@dataclass(frozen=True, slots=True)
class Anomaly:
    metric: str
    z: float
    clear_z: float
    samples: int
    min_samples: int


@dataclass(frozen=True, slots=True)
class Inactivity:
    activity: tuple[tuple[str, float], ...]
    quiet_s: float


@dataclass(frozen=True, slots=True)
class StateAt:
    metric: str
    value: float
    at: time


@dataclass(frozen=True, slots=True)
class EventCondition:
    event: str
    count: int
    within_s: float
    clear_after_s: float | None


@dataclass(frozen=True, slots=True)
class Correlate:
    rules: frozenset[str]
    min_devices: int | None
    within_s: float
    share: float | None


@dataclass(frozen=True, slots=True)
class Compare:
    metric: str
    op: str
    """`>=`, `<=` or `==`."""
    level: float

    def check(self, latest: Mapping[str, float]) -> bool:
        value = latest.get(self.metric)
        if value is None:
            return False
        if self.op == ">=":
            return value >= self.level
        if self.op == "<=":
            return value <= self.level
        return value == self.level


@dataclass(frozen=True, slots=True)
class Group:
    mode: str
    """`all`, `any` or `not` (not: none of the parts)."""
    parts: tuple[Check, ...]

    def check(self, latest: Mapping[str, float]) -> bool:
        if self.mode == "all":
            return all(p.check(latest) for p in self.parts)
        if self.mode == "any":
            return any(p.check(latest) for p in self.parts)
        return not any(p.check(latest) for p in self.parts)


Check = Compare | Group


@dataclass(frozen=True, slots=True)
class Composite:
    check: Group
    metrics: frozenset[str]
    hold_s: float


Condition = (Threshold | Offline | Rate | Anomaly | Inactivity | StateAt | EventCondition
             | Correlate | Composite)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    pack: str
    category: Category
    severity: Severity
    kinds: frozenset[str]
    subject: SubjectLevel
    message_zh: str
    message_en: str
    condition: Condition
    rooms: frozenset[str] = frozenset()
    residents_only: bool = False
    window: DailyWindow | None = None
    inhibits: frozenset[str] = frozenset()


def _freeze_check(spec: CheckSpec) -> Check:
    if spec.all is not None:
        return Group("all", tuple(_freeze_check(c) for c in spec.all))
    if spec.any is not None:
        return Group("any", tuple(_freeze_check(c) for c in spec.any))
    if spec.not_ is not None:
        return Group("not", (_freeze_check(spec.not_),))
    assert spec.metric is not None
    if spec.above is not None:
        return Compare(spec.metric, ">=", spec.above)
    if spec.below is not None:
        return Compare(spec.metric, "<=", spec.below)
    return Compare(spec.metric, "==", float(spec.equals or 0))


def _freeze_condition(spec: ConditionSpecType) -> Condition:
    if isinstance(spec, OfflineSpec):
        return Offline(spec.missed_reports, spec.settle)
    if isinstance(spec, ThresholdSpec):
        levels = tuple(sorted(((v, k) for k, v in spec.levels.items()),
                              key=lambda lv: lv[0], reverse=spec.below is not None))
        if spec.above is not None:
            clear = spec.clear_below if spec.clear_below is not None else spec.above
            return Threshold(spec.metric, True, spec.above, clear, spec.hold, spec.times, levels)
        assert spec.below is not None
        clear = spec.clear_above if spec.clear_above is not None else spec.below
        return Threshold(spec.metric, False, spec.below, clear, spec.hold, spec.times, levels)
    if isinstance(spec, RateSpec):
        per_min = spec.rise_per_min if spec.rise_per_min is not None else -(spec.fall_per_min or 0)
        return Rate(spec.metric, per_min, spec.window, spec.clear_ratio)
    if isinstance(spec, AnomalySpec):
        return Anomaly(spec.metric, spec.z, spec.clear_z, spec.samples, spec.min_samples)
    if isinstance(spec, InactivitySpec):
        return Inactivity(tuple((m, 1.0 if v else 0.0) for m, v in spec.activity.items()),
                          spec.quiet)
    if isinstance(spec, StateAtSpec):
        return StateAt(spec.metric, 1.0 if spec.value else 0.0, parse_clock(spec.at))
    if isinstance(spec, EventSpec):
        return EventCondition(spec.event, spec.count, spec.within, spec.clear_after)
    if isinstance(spec, CorrelateSpec):
        return Correlate(frozenset(spec.rules), spec.min_devices, spec.within, spec.share)
    group = Group(spec.type, tuple(_freeze_check(c) for c in spec.of))
    return Composite(group, frozenset(_metrics_of(spec)), spec.hold)


def freeze_pack(spec: RulePackSpec) -> list[Rule]:
    return [
        Rule(r.id, spec.pack, r.category, r.severity, frozenset(r.kinds), r.subject,
             r.message.zh, r.message.en, _freeze_condition(r.condition), frozenset(r.rooms),
             r.residents_only,
             DailyWindow(parse_clock(r.between[0]), parse_clock(r.between[1]))
             if r.between else None,
             frozenset(r.inhibits))
        for r in spec.rules if r.enabled
    ]


def load_pack(text: str, source: str) -> list[Rule]:
    """Parse and validate one rule pack. Raises ConfigError with file:line."""
    data, lines = parse_yaml(text, source)
    try:
        spec = RulePackSpec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source, lines) from None
    seen: dict[str, int] = {}
    for i, rule in enumerate(spec.rules):
        if rule.id in seen:
            path: Path = ("rules", i, "id")
            raise ConfigError(source, lines.line_of(path), format_path(path),
                              f"duplicate rule id {rule.id!r} (first at rules[{seen[rule.id]}])")
        seen[rule.id] = i
    return freeze_pack(spec)


def check_unique(rules: list[Rule]) -> dict[str, Rule]:
    """Rule ids must be unique across all loaded packs; a later pack may not shadow silently."""
    by_id: dict[str, Rule] = {}
    for rule in rules:
        other = by_id.get(rule.id)
        if other is not None:
            raise ConfigError(f"pack {rule.pack}", None, f"rule {rule.id}",
                              f"rule id also defined in pack {other.pack!r}")
        by_id[rule.id] = rule
    return by_id
