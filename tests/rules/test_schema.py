"""Rule packs: the shipped ones load, durations parse, and every mistake names file:line."""

from __future__ import annotations

from importlib import resources

import pytest

from devices.yamlsource import ConfigError
from rules.schema import (
    Category,
    Offline,
    Rule,
    Severity,
    SubjectLevel,
    Threshold,
    check_unique,
    load_pack,
    parse_duration,
)

SHIPPED = sorted(p.name for p in resources.files("rules.packs").iterdir()
                 if p.name.endswith(".yaml"))


def shipped_pack(name: str) -> list[Rule]:
    text = resources.files("rules.packs").joinpath(name).read_text(encoding="utf-8")
    return load_pack(text, f"rules/packs/{name}")


def all_shipped_rules() -> list[Rule]:
    return [rule for name in SHIPPED for rule in shipped_pack(name)]


def one_rule_pack(
    condition: str = "{type: threshold, metric: smoke, above: 1}",
    kinds: str = "[smoke_detector]",
    severity: str = "critical",
) -> str:
    """A pack with one rule; the condition is always on line 8."""
    return (
        "pack: test\n"
        "rules:\n"
        "  - id: r1\n"
        "    category: fire\n"
        f"    severity: {severity}\n"
        f"    kinds: {kinds}\n"
        "    message: {zh: 测试, en: test}\n"
        f"    condition: {condition}\n"
    )


def pack_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_pack(text, "test.yaml")
    return caught.value


# ------------------------------------------------------------------ shipped packs


def test_the_hazard_packs_are_shipped() -> None:
    assert SHIPPED == ["elderly_care.yaml", "equipment.yaml", "fire.yaml", "flood.yaml",
                       "gas.yaml", "power.yaml", "video.yaml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_pack_loads(name: str) -> None:
    rules = shipped_pack(name)
    assert rules
    assert {r.pack for r in rules} == {name.removesuffix(".yaml")}
    for rule in rules:
        assert rule.message_zh
        assert rule.message_en


def test_shipped_rule_ids_are_unique_across_packs() -> None:
    by_id = check_unique(all_shipped_rules())
    assert len(by_id) == len(all_shipped_rules())


@pytest.mark.parametrize(
    ("rule_id", "condition"),
    [
        pytest.param("smoke_alarm", Threshold("smoke", True, 1.0, 1.0, 0.0), id="smoke"),
        pytest.param("heat_high", Threshold("temperature", True, 57.0, 50.0, 10.0),
                     id="hysteresis-and-hold"),
        pytest.param("fire_pump_pressure_low", Threshold("pressure_mpa", False, 0.3, 0.35, 30.0),
                     id="below-with-clear-above"),
        pytest.param("flood_level_high", Threshold("water_level_cm", True, 15.0, 5.0, 60.0),
                     id="flood"),
        pytest.param("camera_offline", Offline(3.0, 60.0), id="offline"),
    ],
)
def test_shipped_rules_freeze_as_written(rule_id: str, condition: object) -> None:
    rule = check_unique(all_shipped_rules())[rule_id]
    assert rule.condition == condition


def test_a_frozen_rule_keeps_its_fields() -> None:
    rule = check_unique(all_shipped_rules())["smoke_alarm"]
    assert (rule.pack, rule.category, rule.severity, rule.subject) == (
        "fire", Category.FIRE, Severity.MAJOR, SubjectLevel.UNIT)
    assert rule.kinds == frozenset({"smoke_detector"})


# ------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param(45, 45.0, id="int-seconds"),
        pytest.param(2.5, 2.5, id="float-seconds"),
        pytest.param(0, 0.0, id="zero"),
        pytest.param("15", 15.0, id="bare-number-string"),
        pytest.param("30s", 30.0, id="seconds"),
        pytest.param("250ms", 0.25, id="milliseconds"),
        pytest.param("10m", 600.0, id="minutes-m"),
        pytest.param("10min", 600.0, id="minutes-min"),
        pytest.param("1.5h", 5400.0, id="fractional-hours"),
        pytest.param("2d", 172_800.0, id="days"),
        pytest.param(" 5 s ", 5.0, id="spaces"),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(-5, "cannot be negative", id="negative-number"),
        pytest.param("-5s", "is not a duration", id="negative-string"),
        pytest.param("5 weeks", "is not a duration", id="unknown-unit"),
        pytest.param("5S", "is not a duration", id="unit-is-case-sensitive"),
        pytest.param("soon", "is not a duration", id="words"),
        pytest.param("", "is not a duration", id="empty"),
        pytest.param(None, "is not a duration", id="none"),
        pytest.param(True, "is not a duration", id="bool"),
        pytest.param([30], "is not a duration", id="list"),
    ],
)
def test_parse_duration_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


@pytest.mark.parametrize(
    ("hold", "seconds"),
    [
        pytest.param("for: 10s", 10.0, id="for-alias"),
        pytest.param("for: 2m", 120.0, id="for-minutes"),
        pytest.param("for: 90", 90.0, id="for-number"),
    ],
)
def test_hold_is_written_as_for(hold: str, seconds: float) -> None:
    (rule,) = load_pack(one_rule_pack(f"{{type: threshold, metric: smoke, above: 1, {hold}}}"),
                        "test.yaml")
    assert isinstance(rule.condition, Threshold)
    assert rule.condition.hold_s == seconds


# ------------------------------------------------------------------ validation errors

BAD_PACKS = [
    pytest.param(
        one_rule_pack("{type: threshold, metric: smoke, above: 1, below: 0}"),
        8, "rules[0].condition", "give exactly one of `above` or `below`",
        id="both-above-and-below"),
    pytest.param(
        one_rule_pack("{type: threshold, metric: smoke}"),
        8, "rules[0].condition", "give exactly one of `above` or `below`",
        id="neither-above-nor-below"),
    pytest.param(
        one_rule_pack("{type: threshold, metric: temperature, above: 57}"),
        6, "rules[0].kinds", "device kind 'smoke_detector' has no metric 'temperature'",
        id="unknown-metric-for-kind"),
    pytest.param(
        one_rule_pack("{type: threshold, metric: temperature, above: 57}",
                      kinds="[heat_detector, smoke_detector]"),
        6, "rules[0].kinds", "'smoke_detector' has no metric 'temperature'",
        id="metric-missing-in-one-of-the-kinds"),
    pytest.param(
        one_rule_pack(kinds="[smoke_detectors]"),
        6, "rules[0].kinds", "unknown device kind(s) ['smoke_detectors']",
        id="unknown-kind"),
    pytest.param(
        one_rule_pack(kinds="[]"),
        6, "rules[0].kinds", "at least 1 item",
        id="no-kinds"),
    pytest.param(
        one_rule_pack(severity="urgent"),
        5, "rules[0].severity", "'critical', 'major', 'minor', 'warning' or 'info'",
        id="bad-severity"),
    pytest.param(
        one_rule_pack("{type: threshold, metric: smoke_density, above: 10, clear_below: 12}"),
        8, "rules[0].condition", "clear_below must not be above `above`",
        id="clear-below-above-the-level"),
    pytest.param(
        one_rule_pack("{type: threshold, metric: battery, below: 10, clear_above: 5}"),
        8, "rules[0].condition", "clear_above must not be below `below`",
        id="clear-above-below-the-level"),
    pytest.param(
        one_rule_pack("{type: threshold, metric: battery, below: 10, clear_below: 5}"),
        8, "rules[0].condition", "with `below`, clear with `clear_above`",
        id="below-cleared-with-clear-below"),
    pytest.param(
        one_rule_pack("{type: threshold, metric: smoke, below: 2}"),
        6, "rules[0].kinds", "smoke is true/false (1/0); `below` must be <= 1",
        id="bool-metric-below-two"),
    pytest.param(
        one_rule_pack("{type: threshold, metric: smoke, above: 1, for: soon}"),
        8, "rules[0].condition", "'soon' is not a duration",
        id="bad-duration"),
    pytest.param(
        one_rule_pack("{type: threshold, metric: smoke, abve: 1}"),
        8, "rules[0].condition", "unknown key (check the spelling)",
        id="unknown-key-in-condition"),
    pytest.param(
        one_rule_pack("{type: offline, missed_reports: 0}"),
        8, "rules[0].condition", "greater than 0",
        id="offline-zero-missed-reports"),
    pytest.param(
        one_rule_pack("{type: threshhold, metric: smoke, above: 1}"),
        8, "rules[0].condition", "'threshold', 'offline'",
        id="unknown-condition-type"),
    pytest.param(
        "pack: test\n"
        "rules:\n"
        "  - id: r1\n"
        "    category: fire\n"
        "    severity: critical\n"
        "    kinds: [smoke_detector]\n"
        "    subjet: unit\n"
        "    message: {zh: 测试, en: test}\n"
        "    condition: {type: threshold, metric: smoke, above: 1}\n",
        7, "rules[0].subjet", "unknown key (check the spelling)",
        id="unknown-key-in-rule"),
    pytest.param(
        "pack: test\n"
        "descripton: typo\n"
        "rules: []\n",
        2, "descripton", "unknown key (check the spelling)",
        id="unknown-top-level-key"),
    pytest.param(
        "pack: test\n"
        "rules:\n"
        "  - id: Smoke Alarm\n"
        "    category: fire\n"
        "    severity: critical\n"
        "    kinds: [smoke_detector]\n"
        "    message: {zh: 测试, en: test}\n"
        "    condition: {type: threshold, metric: smoke, above: 1}\n",
        3, "rules[0].id", "should match pattern",
        id="bad-rule-id"),
    pytest.param(
        "pack: test\n"
        "rules:\n"
        "  - id: r1\n"
        "    category: fire\n"
        "    severity: critical\n"
        "    kinds: [smoke_detector]\n"
        "    message: {zh: 测试, en: test}\n"
        "    condition: {type: threshold, metric: smoke, above: 1}\n"
        "  - id: r2\n"
        "    category: fire\n"
        "    severity: major\n"
        "    kinds: [smoke_detector]\n"
        "    message: {zh: 测试, en: test}\n"
        "    condition: {type: threshold, metric: battery, below: 10}\n"
        "  - id: r1\n"
        "    category: fire\n"
        "    severity: minor\n"
        "    kinds: [smoke_detector]\n"
        "    message: {zh: 测试, en: test}\n"
        "    condition: {type: threshold, metric: battery, below: 5}\n",
        15, "rules[2].id", "duplicate rule id 'r1' (first at rules[0])",
        id="duplicate-rule-id"),
    pytest.param(
        "pack: test\n"
        "rules:\n"
        "  - id: r1\n"
        "    category: fire\n"
        "    severity: critical\n"
        "    kinds: [smoke_detector]\n"
        "    message: {zh: 测试}\n"
        "    condition: {type: threshold, metric: smoke, above: 1}\n",
        7, "rules[0].message.en", "Field required",
        id="message-without-english"),
    pytest.param(
        "pack: test\n"
        "rules:\n"
        "  - id: r1\n"
        "    category: fire\n"
        "    category: gas\n",
        5, "", "duplicate key 'category' (first on line 4)",
        id="duplicate-yaml-key"),
    pytest.param(
        "pack: test\n"
        "rules: [\n",
        3, "", "invalid YAML",
        id="yaml-syntax"),
]


@pytest.mark.parametrize(("text", "line", "where", "what"), BAD_PACKS)
def test_pack_errors_name_file_line_and_path(text: str, line: int, where: str, what: str) -> None:
    error = pack_error(text)
    assert (error.source, error.line) == ("test.yaml", line)
    # A condition error may add pydantic's union tag (`.threshold`) after the real path.
    assert error.where.startswith(where)
    assert what in error.what
    assert str(error).startswith(f"test.yaml:{line}: {where}")


# ------------------------------------------------------------------ across packs


def test_check_unique_rejects_an_id_defined_in_two_packs() -> None:
    first = load_pack(one_rule_pack().replace("pack: test", "pack: mine"), "mine.yaml")
    second = load_pack(one_rule_pack().replace("pack: test", "pack: theirs"), "theirs.yaml")
    with pytest.raises(ConfigError) as caught:
        check_unique([*first, *second])
    error = caught.value
    assert error.where == "rule r1"
    assert error.source == "pack theirs"
    assert "also defined in pack 'mine'" in error.what


def test_check_unique_rejects_a_pack_that_shadows_a_shipped_rule() -> None:
    mine = load_pack(one_rule_pack().replace("id: r1", "id: smoke_alarm"), "mine.yaml")
    with pytest.raises(ConfigError, match="also defined in pack 'fire'"):
        check_unique([*all_shipped_rules(), *mine])


def test_check_unique_maps_ids_to_rules() -> None:
    rules = [*all_shipped_rules(), *load_pack(one_rule_pack(), "test.yaml")]
    by_id = check_unique(rules)
    assert by_id["r1"].pack == "test"
    assert set(by_id) == {r.id for r in rules}


def test_hold_must_be_written_as_for() -> None:
    """`for:` is the documented key; the internal field name is not a second spelling."""
    with pytest.raises(ConfigError, match="unknown key"):
        load_pack(one_rule_pack("{type: threshold, metric: smoke, above: 1, hold: 5s}"),
                  "test.yaml")
