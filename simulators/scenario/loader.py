"""Reading a scenario file: YAML with lines, validation, the site, references, the plan.

Every error a scenario's author can make is a `ConfigError` reading `file:line: where: what`:
a typo in a key, a unit the site does not have, a fall where no device can notice one, an
expectation `after` a step that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from devices.site import Site, load_site
from devices.yamlsource import ConfigError, LineMap, format_path, parse_yaml, validation_error
from simulators.routine import Routines
from simulators.scenario.model import Action, Background, Expectation, Match, Scenario, Step
from simulators.scenario.plan import PlanError, plan_step
from simulators.scenario.spec import (
    AlertMatchSpec,
    ExpectSpec,
    ScenarioSpec,
    parse_start,
    show_duration,
)

DEFAULT_HAZARD_S = 600.0
"""A fire, leak or flood without `for:` lasts ten minutes."""

ErrorMaker = Callable[[tuple[str | int, ...], str], ConfigError]


def load_scenario(path: Path) -> Scenario:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, None, "", f"cannot read scenario: {exc.strerror}") from None
    return parse_scenario(text, path)


def parse_scenario(text: str, path: Path) -> Scenario:
    source = str(path)
    data, lines = parse_yaml(text, source)
    try:
        spec = ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source, lines) from None

    def error(where: tuple[str | int, ...], what: str) -> ConfigError:
        return ConfigError(source, lines.line_of(where), format_path(where), what)

    site_path = (path.parent / spec.site).resolve()
    try:
        site = load_site(site_path.read_text(encoding="utf-8"), str(site_path))
    except OSError as exc:
        raise error(("site",), f"cannot read site file {site_path}: {exc.strerror}") from None
    routines = Routines(site) if spec.background.routines else None
    steps, actions = _plan(spec, site, routines, error, lines)
    by_id = {s.id: s for s in steps}
    expectations = tuple(_expectation(e, i, site, by_id, error, lines)
                         for i, e in enumerate(spec.expect))
    drill = None
    if spec.drill:
        drill = spec.drill if isinstance(spec.drill, str) else (spec.title or spec.name)
    start = parse_start(spec.start) if spec.start is not None else None
    return Scenario(
        name=spec.name, title=spec.title or spec.name, source=path, site=site,
        site_path=site_path, speed=spec.speed, start=start, drill=drill,
        background=Background(spec.background.interval_scale, spec.background.routines,
                              spec.background.seed),
        steps=steps, actions=actions, expectations=expectations, duration=spec.duration,
        steps_by_id=by_id)


def _plan(spec: ScenarioSpec, site: Site, routines: Routines | None,
          error: ErrorMaker, lines: LineMap) -> tuple[tuple[Step, ...], tuple[Action, ...]]:
    counts: dict[str, int] = {}
    for step in spec.timeline:
        counts[step.happening] = counts.get(step.happening, 0) + 1
    steps: list[Step] = []
    actions: list[Action] = []
    seen: dict[str, int] = {}
    for i, step in enumerate(spec.timeline):
        where = ("timeline", i)
        step_id = step.id or (step.happening if counts[step.happening] == 1 else
                              f"{step.happening}-{i + 1}")
        if step_id in seen:
            raise error((*where, "id"), f"step id {step_id!r} is already used by step "
                                        f"{seen[step_id] + 1}")
        seen[step_id] = i
        try:
            planned = plan_step(step, i, site, routines, DEFAULT_HAZARD_S)
        except PlanError as exc:
            raise error((*where, *exc.where), exc.what) from None
        steps.append(Step(i, step_id, step.happening, step.at, planned.end,
                          planned.summary, lines.line_of(where)))
        actions += planned.actions
    actions.sort(key=lambda a: a.at)
    return tuple(steps), tuple(actions)


def _expectation(e: ExpectSpec, index: int, site: Site, steps: dict[str, Step],
                 error: ErrorMaker, lines: LineMap) -> Expectation:
    where = ("expect", index)
    kind: Literal["alert", "no_alert"] = "alert" if e.alert is not None else "no_alert"
    spec = e.alert or e.no_alert
    assert spec is not None
    _check_match(spec, site, (*where, kind), error)
    if e.after is not None and e.after not in steps:
        known = ", ".join(steps) or "none: the timeline is empty"
        raise error((*where, "after"), f"no step {e.after!r} (step ids: {known})")
    if e.resolved_within is not None and e.after is None:
        raise error((*where, "resolved_within"), "resolved_within counts from the end of a "
                                                 "step: give `after: <step id>`")
    match = Match(spec.rule, spec.category, spec.place, spec.device, spec.severity)
    name = e.name or _describe(kind, match, e)
    return Expectation(index, kind, match, e.after, e.within, tuple(e.delivered_to),
                       e.exercise, e.resolved_within, name, lines.line_of(where))


def _check_match(spec: AlertMatchSpec, site: Site, where: tuple[str | int, ...],
                 error: ErrorMaker) -> None:
    if spec.place is not None and spec.place not in site.places:
        raise error((*where, "place"), f"no place {spec.place!r} in site {site.id!r}")
    if spec.device is not None and spec.device not in site.devices:
        raise error((*where, "device"), f"no device {spec.device!r} in site {site.id!r}")


def _describe(kind: str, match: Match, e: ExpectSpec) -> str:
    text = ("alert " if kind == "alert" else "no alert ") + match.describe()
    if e.within is not None:
        text += f" within {show_duration(e.within)}" if kind == "alert" else \
            f" for {show_duration(e.within)}"
    if e.after is not None:
        text += f" after {e.after}"
    return text
