"""What each happening does to the site's devices, as timed actions. Pure.

A happening names places (a unit, a building) or devices; here they become the devices that
would notice — the smoke and heat detectors of the burning home, the gauges of the flooded
grid, the cameras of the building that lost power — and the readings, events and silences
they produce, each at its own offset. A reference the site cannot satisfy is a `PlanError`
naming the key, which the loader turns into file:line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from devices.site import DeviceInfo, Place, PlaceLevel, Site
from simulators.routine import Routines, Sensor
from simulators.scenario.model import (
    Action,
    HoldHome,
    Match,
    Mute,
    Operate,
    RestartBroker,
    Restore,
    ResumeHome,
    SendEvent,
    SetAvailable,
    SetValues,
    contains,
)
from simulators.scenario.spec import (
    CameraCutSpec,
    EntrapmentSpec,
    EventSpec,
    FallSpec,
    FireSpec,
    FloodSpec,
    GasLeakSpec,
    OperatorSpec,
    PowerCutSpec,
    ResidentRef,
    SosSpec,
    StepSpec,
    ValuesSpec,
    show_duration,
)

AMBIENT_C = 24.0
TANK_FULL_PCT = 90.0


class PlanError(ValueError):
    def __init__(self, where: tuple[str | int, ...], what: str) -> None:
        super().__init__(what)
        self.where = where
        self.what = what


class Planned:
    """The actions, end and one-line summary of one step."""

    def __init__(self, step: int, at: float) -> None:
        self.step = step
        self.at = at
        self.actions: list[Action] = []
        self.end = at
        self.summary = ""


def place(site: Site, place_id: str, where: tuple[str | int, ...],
          level: PlaceLevel | None = None) -> Place:
    found = site.places.get(place_id)
    if found is None:
        raise PlanError(where, f"no place {place_id!r} in site {site.id!r} (places look like "
                               "'b1', 'b1/f3' or 'b1/f3/302')")
    if level is not None and found.level is not level:
        raise PlanError(where, f"{place_id!r} is a {found.level.value}, not a {level.value}")
    return found


def device(site: Site, device_id: str, where: tuple[str | int, ...]) -> DeviceInfo:
    found = site.devices.get(device_id)
    if found is None:
        raise PlanError(where, f"no device {device_id!r} in site {site.id!r}")
    return found


def devices_in(site: Site, where: Place, kinds: Iterable[str]) -> list[DeviceInfo]:
    wanted = frozenset(kinds)
    return [d for d in site.devices.values()
            if d.kind.name in wanted and contains(where, d.place)]


def ramp(start: float, stop: float, over_s: float, every_s: float) -> list[tuple[float, float]]:
    """(offset, value) points from `start` to `stop` over `over_s`, one every `every_s`."""
    every_s = max(every_s, 0.1)
    steps = max(1, round(over_s / every_s))
    return [(k * every_s, start + (stop - start) * min(1.0, k / steps))
            for k in range(steps + 1)]


def plan_step(spec: StepSpec, index: int, site: Site, routines: Routines | None,
              default_lasts_s: float) -> Planned:
    """Expand one step. `default_lasts_s` is how long a hazard without `for` lasts."""
    p = Planned(index, spec.at)
    happening = spec.happening
    body = getattr(spec, happening)
    lasts = getattr(body, "lasts", None)
    if happening == "fire":
        _fire(p, body, site, lasts or default_lasts_s)
    elif happening == "gas_leak":
        _gas(p, body, site, lasts or default_lasts_s)
    elif happening == "flood":
        _flood(p, body, site, lasts or default_lasts_s)
    elif happening in ("fall", "inactive", "stays_in_bed"):
        _resident(p, happening, body, site, routines, lasts)
    elif happening == "sos":
        _sos(p, body, site)
    elif happening == "camera_cut":
        _camera_cut(p, body, site, lasts)
    elif happening == "tamper":
        d = device(site, body.device, ("tamper", "device"))
        _needs_event(d, "tamper", ("tamper", "device"))
        p.actions.append(SendEvent(p.at, index, d.id, "tamper"))
        p.summary = f"{d.id} ({d.kind.name}) tampered with"
    elif happening == "power_cut":
        _power_cut(p, body, site, lasts)
    elif happening == "entrapment":
        _entrapment(p, body, site, lasts)
    elif happening == "event":
        _event(p, body, site)
    elif happening == "values":
        _values(p, body, site, lasts)
    elif happening == "broker_restart":
        p.actions.append(RestartBroker(p.at, index, body.command))
        p.summary = "the broker restarts"
    else:
        _operate(p, happening, body, site)
    return p


def _fire(p: Planned, spec: FireSpec, site: Site, lasts: float) -> None:
    unit = place(site, spec.unit, ("fire", "unit"))
    smoke = devices_in(site, unit, ("smoke_detector",))
    heat = devices_in(site, unit, ("heat_detector", "temp_humidity"))
    if not smoke and not heat:
        raise PlanError(("fire", "unit"), f"{spec.unit!r} has no smoke or heat detector to "
                                          "notice a fire")
    at, step = p.at, p.step
    p.end = at + lasts
    for d in smoke:
        p.actions.append(SetValues(at, step, d.id, {"smoke": True, "smoke_density": 12.0}))
        p.actions.append(Restore(p.end, step, d.id))
    climb_s = (spec.peak - AMBIENT_C) / spec.rise_per_min * 60.0
    heating = max(0.0, lasts - spec.heat_after)
    for d in heat:
        for offset, value in ramp(AMBIENT_C, spec.peak, climb_s, spec.every):
            if offset <= heating:
                p.actions.append(SetValues(at + spec.heat_after + offset, step, d.id,
                                           {"temperature": round(value, 1)}))
        p.actions.append(Restore(p.end, step, d.id))
    spread = []
    for i, other in enumerate(spec.spread_to):
        neighbours = devices_in(site, place(site, other, ("fire", "spread_to", i)),
                                ("smoke_detector",))
        if not neighbours:
            raise PlanError(("fire", "spread_to", i), f"{other!r} has no smoke detector")
        for d in neighbours:
            start = min(at + spec.spread_after, p.end)
            p.actions.append(SetValues(start, step, d.id, {"smoke": True,
                                                           "smoke_density": 5.0}))
            p.actions.append(Restore(p.end, step, d.id))
        spread.append(other)
    p.summary = (f"fire in {spec.unit}: {len(smoke)} smoke detector(s) alarm, "
                 f"{len(heat)} heat detector(s) rise {spec.rise_per_min:g} °C/min")
    if spread:
        p.summary += (f"; smoke reaches {', '.join(spread)} after "
                      f"{show_duration(spec.spread_after)}")
    p.summary += f"; out after {show_duration(lasts)}"


def _gas(p: Planned, spec: GasLeakSpec, site: Site, lasts: float) -> None:
    unit = place(site, spec.unit, ("gas_leak", "unit"))
    detectors = devices_in(site, unit, ("gas_detector",))
    if not detectors:
        raise PlanError(("gas_leak", "unit"), f"{spec.unit!r} has no gas detector")
    p.end = p.at + lasts
    for d in detectors:
        for offset, value in ramp(0.5, spec.lel, spec.rise, spec.every):
            if offset <= lasts:
                values: dict[str, float | bool] = {"gas_lel": round(value, 1)}
                if spec.co_ppm is not None:
                    values["co_ppm"] = round(2 + (spec.co_ppm - 2) * offset / max(spec.rise,
                                                                                   1.0), 1)
                p.actions.append(SetValues(p.at + offset, p.step, d.id, values))
        p.actions.append(Restore(p.end, p.step, d.id))
    p.summary = (f"gas leak in {spec.unit}: {spec.lel:g} %LEL within "
                 f"{show_duration(spec.rise)}, for {show_duration(lasts)}")


def _flood(p: Planned, spec: FloodSpec, site: Site, lasts: float) -> None:
    building = place(site, spec.building, ("flood", "building"), PlaceLevel.BUILDING)
    p.end = p.at + lasts
    if spec.gauges is None:
        gauges = devices_in(site, Place(building.grid), ("water_level",))
    else:
        gauges = [device(site, g, ("flood", "gauges", i)) for i, g in enumerate(spec.gauges)]
    for d in gauges:
        for offset, value in ramp(0.5, spec.level_cm, spec.rise, spec.every):
            p.actions.append(SetValues(p.at + offset, p.step, d.id,
                                       {"water_level_cm": round(value, 1)}))
        p.actions.append(Restore(p.end, p.step, d.id))
    tanks = devices_in(site, building, ("water_tank",)) if spec.tank_fall_per_min else []
    for d in tanks:
        t = 0.0
        while t <= lasts:
            level = max(5.0, TANK_FULL_PCT - spec.tank_fall_per_min * t / 60.0)
            p.actions.append(SetValues(p.at + t, p.step, d.id, {"level_pct": round(level, 1)}))
            t += spec.every
        p.actions.append(Restore(p.end, p.step, d.id))
    wet = []
    for i, target in enumerate(spec.leaks):
        if target in site.devices:
            found = [site.devices[target]]
        else:
            found = devices_in(site, place(site, target, ("flood", "leaks", i)),
                               ("water_leak",))
        if not found:
            raise PlanError(("flood", "leaks", i), f"{target!r} has no water leak sensor")
        for d in found:
            p.actions.append(SetValues(p.at, p.step, d.id, {"water_leak": True}))
            p.actions.append(Restore(p.end, p.step, d.id))
            wet.append(d.id)
    if not gauges and not tanks and not wet:
        raise PlanError(("flood", "building"), f"no water gauge, tank or leak sensor for "
                                               f"{spec.building!r} to notice a flood")
    p.summary = (f"flood at {spec.building}: water {spec.level_cm:g} cm at "
                 f"{len(gauges)} gauge(s), tank falling {spec.tank_fall_per_min:g} %/min, "
                 f"{len(wet)} leak sensor(s) wet, for {show_duration(lasts)}")


def _home(spec: ResidentRef, happening: str, site: Site, routines: Routines | None) -> str:
    if spec.resident is not None:
        unit = next((r.unit.id for r in site.residents if r.id == spec.resident), None)
        if unit is None:
            known = ", ".join(r.id for r in site.residents) or "none"
            raise PlanError((happening, "resident"), f"no resident {spec.resident!r} in the "
                                                     f"site (residents: {known})")
    else:
        assert spec.unit is not None
        unit = place(site, spec.unit, (happening, "unit"), PlaceLevel.UNIT).id
    if routines is not None and routines.unit_of(unit) is None:
        raise PlanError((happening, "resident" if spec.resident else "unit"),
                        f"{unit!r} is not the home of a resident in the care programme with "
                        "a bed, motion or door sensor")
    return unit


def _resident(p: Planned, happening: str, spec: ResidentRef, site: Site,
              routines: Routines | None, lasts: float | None) -> None:
    unit = _home(spec, happening, site, routines)
    active: tuple[tuple[Sensor, bool], ...] = ()
    if isinstance(spec, FallSpec):
        home = site.places[unit]
        finders = devices_in(site, home, ("fall_detector", "wearable"))
        if spec.where == "bathroom":
            finders.sort(key=lambda d: d.room != "bathroom")
        if not finders:
            raise PlanError(("fall", "resident" if spec.resident else "unit"),
                            f"{unit!r} has no fall detector or wearable to notice a fall; "
                            "use `inactive` for a resident who stops moving unseen")
        p.actions.append(SendEvent(p.at, p.step, finders[0].id, "fall"))
        active = ((Sensor.BED, False),)
        if spec.where == "bathroom":
            active += ((Sensor.BATHROOM, True),)
        p.summary = f"the resident of {unit} falls ({spec.where}, {finders[0].id})"
    elif happening == "stays_in_bed":
        active = ((Sensor.BED, True),)
        p.summary = f"the resident of {unit} stays in bed"
    else:
        p.summary = f"the resident of {unit} stops moving"
    p.actions.append(HoldHome(p.at, p.step, unit, active))
    if lasts is not None:
        p.end = p.at + lasts
        p.actions.append(ResumeHome(p.end, p.step, unit))
        p.summary += f" for {show_duration(lasts)}"
    else:
        p.end = float("inf")


def _sos(p: Planned, spec: SosSpec, site: Site) -> None:
    if spec.device is not None:
        d = device(site, spec.device, ("sos", "device"))
        _needs_event(d, "sos", ("sos", "device"))
    else:
        assert spec.unit is not None
        buttons = devices_in(site, place(site, spec.unit, ("sos", "unit")),
                             ("sos_button", "wearable"))
        if not buttons:
            raise PlanError(("sos", "unit"), f"{spec.unit!r} has no SOS button or wearable")
        buttons.sort(key=lambda b: b.kind.name != "sos_button")
        d = buttons[0]
    p.actions.append(SendEvent(p.at, p.step, d.id, "sos"))
    p.summary = f"SOS pressed on {d.id}"


def _needs_event(d: DeviceInfo, event: str, where: tuple[str | int, ...]) -> None:
    if event not in d.kind.events:
        known = ", ".join(sorted(d.kind.events)) or "none"
        raise PlanError(where, f"a {d.kind.name} ({d.id}) has no {event!r} event "
                               f"(it has: {known})")


def _offline(p: Planned, d: DeviceInfo, mode: str) -> None:
    p.actions.append(Mute(p.at, p.step, d.id, True))
    if mode == "offline":
        p.actions.append(SetAvailable(p.at, p.step, d.id, False))


def _back(p: Planned, d: DeviceInfo, mode: str) -> None:
    p.actions.append(Mute(p.end, p.step, d.id, False))
    if mode == "offline":
        p.actions.append(SetAvailable(p.end, p.step, d.id, True))
    p.actions.append(Restore(p.end, p.step, d.id))


def _camera_cut(p: Planned, spec: CameraCutSpec, site: Site, lasts: float | None) -> None:
    d = device(site, spec.device, ("camera_cut", "device"))
    _offline(p, d, spec.mode)
    p.summary = f"{d.id} cut ({'says offline' if spec.mode == 'offline' else 'falls silent'})"
    if lasts is None:
        p.end = float("inf")
    else:
        p.end = p.at + lasts
        _back(p, d, spec.mode)
        p.summary += f" for {show_duration(lasts)}"


def _power_cut(p: Planned, spec: PowerCutSpec, site: Site, lasts: float | None) -> None:
    building = place(site, spec.building, ("power_cut", "building"), PlaceLevel.BUILDING)
    meters = devices_in(site, building, ("power_meter",))
    video = devices_in(site, building, ("camera", "nvr"))
    lifts = devices_in(site, building, ("elevator",))
    if not meters and not video:
        raise PlanError(("power_cut", "building"), f"{spec.building!r} has no power meter, "
                                                   "camera or recorder to notice")
    p.end = float("inf") if lasts is None else p.at + lasts
    for d in meters:
        p.actions.append(SetValues(p.at, p.step, d.id, {"on_mains": False, "voltage_v": 0.0,
                                                        "power_kw": 0.0}))
    for d in lifts:
        p.actions.append(SetValues(p.at, p.step, d.id, {"running": False}))
    for d in video:
        _offline(p, d, spec.cameras)
    if lasts is not None:
        for d in (*meters, *lifts):
            p.actions.append(Restore(p.end, p.step, d.id))
        for d in video:
            _back(p, d, spec.cameras)
    p.summary = (f"power cut in {spec.building}: {len(meters)} meter(s) off mains, "
                 f"{len(video)} camera(s)/recorder(s) {spec.cameras}")
    if lasts is not None:
        p.summary += f", back after {show_duration(lasts)}"


def _entrapment(p: Planned, spec: EntrapmentSpec, site: Site, lasts: float | None) -> None:
    if spec.device is not None:
        lifts = [device(site, spec.device, ("entrapment", "device"))]
        _needs_event(lifts[0], "entrapment", ("entrapment", "device"))
    else:
        assert spec.building is not None
        where = place(site, spec.building, ("entrapment", "building"), PlaceLevel.BUILDING)
        lifts = devices_in(site, where, ("elevator",))[:1]
        if not lifts:
            raise PlanError(("entrapment", "building"), f"{spec.building!r} has no elevator")
    lift = lifts[0]
    p.actions.append(SetValues(p.at, p.step, lift.id, {"running": False, "door_open": False}))
    p.actions.append(SendEvent(p.at, p.step, lift.id, "entrapment"))
    p.summary = f"people trapped in {lift.id}"
    if lasts is not None:
        p.end = p.at + lasts
        p.actions.append(Restore(p.end, p.step, lift.id))
        p.summary += f", freed after {show_duration(lasts)}"


def _event(p: Planned, spec: EventSpec, site: Site) -> None:
    d = device(site, spec.device, ("event", "device"))
    _needs_event(d, spec.type, ("event", "type"))
    for k in range(spec.count):
        p.actions.append(SendEvent(p.at + k * spec.every, p.step, d.id, spec.type))
    p.end = p.at + (spec.count - 1) * spec.every
    times = f" ×{spec.count}, every {show_duration(spec.every)}" if spec.count > 1 else ""
    p.summary = f"{d.id}: {spec.type}{times}"


def _values(p: Planned, spec: ValuesSpec, site: Site, lasts: float | None) -> None:
    d = device(site, spec.device, ("values", "device"))
    for metric, value in spec.set.items():
        metric_spec = d.kind.metrics.get(metric)
        if metric_spec is None:
            raise PlanError(("values", "set", metric),
                            f"a {d.kind.name} has no metric {metric!r} (it has: "
                            f"{', '.join(d.kind.metrics)})")
        if (metric_spec.type.value == "bool") != isinstance(value, bool):
            raise PlanError(("values", "set", metric),
                            f"{metric} is a {metric_spec.type.value}, not {value!r}")
    p.actions.append(SetValues(p.at, p.step, d.id, dict(spec.set)))
    shown = ", ".join(f"{k}={v}" for k, v in spec.set.items())
    p.summary = f"{d.id} reports {shown}"
    if lasts is not None:
        p.end = p.at + lasts
        p.actions.append(Restore(p.end, p.step, d.id))
        p.summary += f" for {show_duration(lasts)}"
    else:
        p.end = float("inf")


def _operate(p: Planned, action: str, spec: OperatorSpec, site: Site) -> None:
    if spec.place is not None:
        place(site, spec.place, (action, "place"))
    if spec.device is not None:
        device(site, spec.device, (action, "device"))
    match = Match(spec.rule, spec.category, spec.place, spec.device, spec.severity)
    verb: Literal["acknowledge", "clear"] = "acknowledge" if action == "acknowledge" else \
        "clear"
    p.actions.append(Operate(p.at, p.step, verb, match, spec.by, spec.note))
    p.summary = (f"{spec.by} {'acknowledges' if verb == 'acknowledge' else 'clears'} "
                 f"{match.describe()}")
