"""Rule packs as YAML: validated with pydantic, then frozen into `Rule`s for the engine."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from devices.catalog import CATALOG, ValueType
from devices.yamlsource import ConfigError, Path, format_path, parse_yaml, validation_error


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


class ThresholdSpec(_Spec):
    type: Literal["threshold"]
    metric: str
    above: float | None = None
    below: float | None = None
    clear_below: float | None = None
    """Hysteresis: with `above`, the alert clears only when the value drops below this."""
    clear_above: float | None = None
    hold: Duration = Field(0.0, alias="for")
    """The condition must hold this long before the alert is raised."""

    @field_validator("hold", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)

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


ConditionSpec = Annotated[ThresholdSpec | OfflineSpec, Field(discriminator="type")]


class MessageSpec(_Spec):
    zh: str
    en: str


class RuleSpec(_Spec):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
    category: Category
    severity: Severity
    kinds: list[str] = Field(min_length=1)
    subject: SubjectLevel = SubjectLevel.DEVICE
    message: MessageSpec
    condition: ConditionSpec

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = [k for k in kinds if k not in CATALOG]
        if unknown:
            raise ValueError(f"unknown device kind(s) {unknown}; known: {', '.join(CATALOG)}")
        return kinds

    @model_validator(mode="after")
    def _metric_exists(self) -> RuleSpec:
        if isinstance(self.condition, ThresholdSpec):
            metric = self.condition.metric
            for kind in self.kinds:
                spec = CATALOG[kind].metrics.get(metric)
                if spec is None:
                    raise ValueError(f"device kind {kind!r} has no metric {metric!r} "
                                     f"(has: {', '.join(CATALOG[kind].metrics)})")
                if spec.type is ValueType.BOOL and self.condition.below is not None and (
                        self.condition.below > 1):
                    raise ValueError(f"{metric} is true/false (1/0); `below` must be <= 1")
        return self


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

    def fires(self, value: float) -> bool:
        return value >= self.level if self.above else value <= self.level

    def clears(self, value: float) -> bool:
        return value < self.clear_level if self.above else value > self.clear_level


@dataclass(frozen=True, slots=True)
class Offline:
    missed_reports: float
    settle_s: float


Condition = Threshold | Offline


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


def _freeze_condition(spec: ThresholdSpec | OfflineSpec) -> Condition:
    if isinstance(spec, OfflineSpec):
        return Offline(spec.missed_reports, spec.settle)
    if spec.above is not None:
        clear = spec.clear_below if spec.clear_below is not None else spec.above
        return Threshold(spec.metric, True, spec.above, clear, spec.hold)
    assert spec.below is not None
    clear = spec.clear_above if spec.clear_above is not None else spec.below
    return Threshold(spec.metric, False, spec.below, clear, spec.hold)


def freeze_pack(spec: RulePackSpec) -> list[Rule]:
    return [
        Rule(r.id, spec.pack, r.category, r.severity, frozenset(r.kinds), r.subject,
             r.message.zh, r.message.en, _freeze_condition(r.condition))
        for r in spec.rules
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


def check_unique(rules: list[Rule]) -> dict[str, Any]:
    """Rule ids must be unique across all loaded packs; a later pack may not shadow silently."""
    by_id: dict[str, Rule] = {}
    for rule in rules:
        other = by_id.get(rule.id)
        if other is not None:
            raise ConfigError(f"pack {rule.pack}", None, f"rule {rule.id}",
                              f"rule id also defined in pack {other.pack!r}")
        by_id[rule.id] = rule
    return by_id
