"""The site file: one community — grids, buildings, floors, units, devices, residents, roster.

The YAML is validated with pydantic (`extra="forbid"`, so a typo fails at start-up) and then
turned into the frozen `Site` the rest of the hub works with. Every error names file:line.

Place ids are paths: grid `g1`, building `b3`, floor `b3/f12`, unit `b3/f12/1202`.
Building ids are unique in the site, so a building's id needs no grid prefix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from devices.catalog import CATALOG, DeviceKind
from devices.yamlsource import (
    ConfigError,
    LineMap,
    Path,
    format_path,
    parse_yaml,
    validation_error,
)

# MQTT wildcards and the level separator cannot appear in an id that becomes a topic level.
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def _ident(value: str) -> str:
    if not _IDENT.fullmatch(value):
        raise ValueError(f"id {value!r}: use 1-64 letters, digits, '_', '.' or '-', starting "
                         "with a letter or digit ('/', '+', '#' and spaces break MQTT topics)")
    return value


Ident = Annotated[str, AfterValidator(_ident)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VendorFormat(Enum):
    """A device that speaks a vendor's MQTT format instead of Shouwang's (devices/adapters)."""

    ZIGBEE2MQTT = "zigbee2mqtt"
    FRIGATE = "frigate"
    TASMOTA = "tasmota"


# Frigate's own rule for camera names; a Tasmota %topic% is one topic level.
_FRIGATE_CAMERA = re.compile(r"[A-Za-z0-9_-]+")
_TASMOTA_TOPIC = re.compile(r"[^/+#\s]+")
_Z2M_RESERVED_LEVELS = frozenset({"set", "get", "availability"})


def _vendor_name_problem(fmt: VendorFormat, name: str) -> str | None:
    if fmt is VendorFormat.FRIGATE:
        if not _FRIGATE_CAMERA.fullmatch(name):
            return (f"Frigate camera {name!r}: Frigate camera names are letters, digits, "
                    "'_' and '-'")
        return None
    if fmt is VendorFormat.TASMOTA:
        if not _TASMOTA_TOPIC.fullmatch(name):
            return (f"Tasmota topic {name!r}: one MQTT topic level, without '/', '+', '#' "
                    "or spaces")
        return None
    # Zigbee2MQTT's own friendly_name rules, plus the levels its topics give a meaning to.
    levels = name.split("/")
    if "+" in name or "#" in name or any(ord(c) < 32 for c in name):
        return f"friendly_name {name!r}: no MQTT wildcards (+ #) or control characters"
    if "" in levels:
        return f"friendly_name {name!r}: no leading, trailing or doubled '/'"
    if len(levels) > 1 and levels[-1].isdigit():
        return f"friendly_name {name!r}: Zigbee2MQTT refuses names ending in '/<digits>'"
    if levels[0] == "bridge":
        return f"friendly_name {name!r}: 'zigbee2mqtt/bridge/...' is Zigbee2MQTT's own topic"
    reserved = _Z2M_RESERVED_LEVELS.intersection(levels)
    if reserved:
        return (f"friendly_name {name!r}: a level named {sorted(reserved)[0]!r} would read as "
                "a command or availability topic")
    return None


class VendorSpec(_Spec):
    format: VendorFormat
    name: str = Field(min_length=1, max_length=255)
    """Zigbee2MQTT friendly_name (may contain '/'), Frigate camera name, or Tasmota topic."""

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str, info: ValidationInfo) -> str:
        fmt = info.data.get("format")
        if isinstance(fmt, VendorFormat):
            problem = _vendor_name_problem(fmt, value)
            if problem is not None:
                raise ValueError(problem)
        return value


class DeviceSpec(_Spec):
    id: Ident
    kind: str
    name: str | None = None
    room: str | None = None
    """Where in the home: `bathroom`, `kitchen`, `bedroom`, `living_room`, `hall` ..."""
    vendor: VendorSpec | None = None
    """Set when the device speaks a vendor format: `{format: frigate, name: gate}`."""

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in CATALOG:
            raise ValueError(f"unknown device kind {value!r}; known kinds: {', '.join(CATALOG)}")
        return value


class UnitSpec(_Spec):
    id: Ident
    devices: list[DeviceSpec] = []


class FloorSpec(_Spec):
    number: int = Field(ge=-10, le=200)
    devices: list[DeviceSpec] = []
    units: list[UnitSpec] = []


class BuildingSpec(_Spec):
    id: Ident
    name: str | None = None
    devices: list[DeviceSpec] = []
    floors: list[FloorSpec] = []


class GridSpec(_Spec):
    id: Ident
    name: str | None = None
    devices: list[DeviceSpec] = []
    buildings: list[BuildingSpec] = []


class ResponderRole(Enum):
    FLOOR_LEADER = "floor_leader"          # 楼道长
    BUILDING_LEADER = "building_leader"    # 楼栋长
    GRID_LEADER = "grid_leader"            # 网格长
    DUTY_OFFICER = "duty_officer"          # 安防值班员
    COMMAND_CENTRE = "command_centre"      # 街道指挥中心
    CARE_OPERATOR = "care_operator"        # 养老服务坐席


_ROLE_LEVEL = {
    ResponderRole.FLOOR_LEADER: "floor",
    ResponderRole.BUILDING_LEADER: "building",
    ResponderRole.GRID_LEADER: "grid",
}


class ResponderSpec(_Spec):
    id: Ident
    name: str
    role: ResponderRole
    place: str | None = None
    phone: str | None = None
    email: str | None = None


class ResidentSpec(_Spec):
    id: Ident
    name: str
    unit: str
    care_level: Literal["self_care", "assisted", "intensive"] = "assisted"
    lives_alone: bool = True
    contacts: list[str] = []
    """Phone numbers or roster ids of family and carers."""


class LocationSpec(_Spec):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class SiteSpec(_Spec):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
    name: str
    timezone: str = "Asia/Shanghai"
    location: LocationSpec | None = None
    grids: list[GridSpec] = Field(min_length=1)
    roster: list[ResponderSpec] = []
    residents: list[ResidentSpec] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value


# ---------------------------------------------------------------- the model inside the hub

class PlaceLevel(Enum):
    GRID = "grid"
    BUILDING = "building"
    FLOOR = "floor"
    UNIT = "unit"


@dataclass(frozen=True, slots=True)
class Place:
    grid: str
    building: str | None = None
    floor: int | None = None
    unit: str | None = None

    @property
    def level(self) -> PlaceLevel:
        if self.unit is not None:
            return PlaceLevel.UNIT
        if self.floor is not None:
            return PlaceLevel.FLOOR
        if self.building is not None:
            return PlaceLevel.BUILDING
        return PlaceLevel.GRID

    @property
    def id(self) -> str:
        if self.building is None:
            return self.grid
        if self.floor is None:
            return self.building
        if self.unit is None:
            return f"{self.building}/f{self.floor}"
        return f"{self.building}/f{self.floor}/{self.unit}"

    def at(self, level: PlaceLevel) -> Place:
        """This place, or the enclosing one at a coarser level."""
        if level is PlaceLevel.GRID:
            return Place(self.grid)
        if level is PlaceLevel.BUILDING:
            return Place(self.grid, self.building)
        if level is PlaceLevel.FLOOR:
            return Place(self.grid, self.building, self.floor)
        return self


@dataclass(frozen=True, slots=True)
class VendorMapping:
    format: VendorFormat
    name: str


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: str
    kind: DeviceKind
    place: Place
    name: str | None = None
    room: str | None = None
    vendor: VendorMapping | None = None


@dataclass(frozen=True, slots=True)
class Responder:
    id: str
    name: str
    role: ResponderRole
    place_id: str | None
    phone: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class Resident:
    id: str
    name: str
    unit: Place
    care_level: str
    lives_alone: bool
    contacts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    timezone: str
    devices: Mapping[str, DeviceInfo]
    places: Mapping[str, Place]
    roster: tuple[Responder, ...] = ()
    residents: tuple[Resident, ...] = ()
    location: tuple[float, float] | None = None
    building_names: Mapping[str, str] = field(default_factory=dict)
    grid_names: Mapping[str, str] = field(default_factory=dict)


def load_site(text: str, source: str = "<site>") -> Site:
    """Parse and validate a site YAML document. Raises ConfigError (file:line: where: what)."""
    data, lines = parse_yaml(text, source)
    prefix: Path = ()
    if isinstance(data, dict) and isinstance(data.get("site"), dict):
        # A hub config file may carry the site inline under `site:`.
        data, prefix = data["site"], ("site",)
    return site_from_data(data, source, lines, prefix)


def site_from_data(data: Any, source: str, lines: LineMap, prefix: Path = ()) -> Site:
    """Validate already-parsed YAML (found at `prefix` inside `source`)."""
    try:
        spec = SiteSpec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source, lines, prefix) from None

    def error(path: Path, what: str) -> ConfigError:
        full = (*prefix, *path)
        return ConfigError(source, lines.line_of(full), format_path(full), what)

    return build_site(spec, error)


def _vendor_mapping(d: DeviceSpec, path: Path, taken: dict[tuple[VendorFormat, str], str],
                    error: Callable[[Path, str], ConfigError]) -> VendorMapping | None:
    """The device's vendor mapping, checked against its kind and the mappings `taken` so far."""
    if d.vendor is None:
        return None
    fmt, name = d.vendor.format, d.vendor.name
    if fmt is VendorFormat.FRIGATE and d.kind != "camera":
        raise error((*path, "format"), f"a frigate mapping belongs on a camera, not on a "
                    f"{d.kind}: Frigate reports cameras only")
    other = taken.setdefault((fmt, name), d.id)
    if other != d.id:
        raise error((*path, "name"), f"{fmt.value} name {name!r} is already mapped to "
                    f"device {other!r}")
    return VendorMapping(fmt, name)


def build_site(spec: SiteSpec, error: Callable[[Path, str], ConfigError]) -> Site:
    """Cross-check references and uniqueness, then freeze. `error(path, what)` makes the error."""
    devices: dict[str, DeviceInfo] = {}
    places: dict[str, Place] = {}
    building_names: dict[str, str] = {}
    grid_names: dict[str, str] = {}
    vendor_names: dict[tuple[VendorFormat, str], str] = {}

    def add_devices(specs: list[DeviceSpec], place: Place, path: Path) -> None:
        for i, d in enumerate(specs):
            if d.id in devices:
                raise error((*path, "devices", i, "id"), f"duplicate device id {d.id!r}")
            vendor = _vendor_mapping(d, (*path, "devices", i, "vendor"), vendor_names, error)
            devices[d.id] = DeviceInfo(d.id, CATALOG[d.kind], place, d.name, d.room, vendor)

    def add_place(place: Place, path: Path) -> None:
        if place.id in places:
            raise error((*path, "id"), f"duplicate place {place.id!r}")
        places[place.id] = place

    for gi, grid in enumerate(spec.grids):
        gpath: Path = ("grids", gi)
        add_place(Place(grid.id), gpath)
        grid_names[grid.id] = grid.name or grid.id
        add_devices(grid.devices, Place(grid.id), gpath)
        for bi, building in enumerate(grid.buildings):
            bpath: Path = (*gpath, "buildings", bi)
            bplace = Place(grid.id, building.id)
            add_place(bplace, bpath)
            building_names[building.id] = building.name or building.id
            add_devices(building.devices, bplace, bpath)
            for fi, floor in enumerate(building.floors):
                fpath: Path = (*bpath, "floors", fi)
                fplace = Place(grid.id, building.id, floor.number)
                add_place(fplace, fpath)
                add_devices(floor.devices, fplace, fpath)
                for ui, unit in enumerate(floor.units):
                    upath: Path = (*fpath, "units", ui)
                    uplace = Place(grid.id, building.id, floor.number, unit.id)
                    add_place(uplace, upath)
                    add_devices(unit.devices, uplace, upath)

    roster = []
    for i, r in enumerate(spec.roster):
        level = _ROLE_LEVEL.get(r.role)
        if level is not None:
            place = places.get(r.place or "")
            if place is None:
                raise error(("roster", i, "place"),
                            f"a {r.role.value} needs the {level} they lead as place "
                            f"(e.g. 'b1/f3' for a floor); {r.place!r} is not in the site")
            if place.level.value != level:
                raise error(("roster", i, "place"),
                            f"a {r.role.value} leads a {level}, but {r.place!r} is a "
                            f"{place.level.value}")
        elif r.place is not None and r.place not in places:
            raise error(("roster", i, "place"), f"unknown place {r.place!r}")
        roster.append(Responder(r.id, r.name, r.role, r.place, r.phone, r.email))

    residents = []
    for i, res in enumerate(spec.residents):
        home = places.get(res.unit)
        if home is None or home.level is not PlaceLevel.UNIT:
            raise error(("residents", i, "unit"),
                        f"{res.unit!r} is not a unit of this site (units look like 'b1/f3/301')")
        residents.append(Resident(res.id, res.name, home, res.care_level, res.lives_alone,
                                  tuple(res.contacts)))

    location = (spec.location.lat, spec.location.lon) if spec.location else None
    return Site(spec.id, spec.name, spec.timezone, devices, places, tuple(roster),
                tuple(residents), location, building_names, grid_names)


def describe_place(site: Site, place: Place, lang: str = "zh") -> str:
    """A place as a responder says it: `1号楼 12层 1202室` / `1号楼, floor 12, unit 1202`.

    Building and grid names are the site's own (usually Chinese) in both languages: they are
    what is painted on the building.
    """
    building = site.building_names.get(place.building or "", place.building or "")
    grid = site.grid_names.get(place.grid, place.grid)
    if lang == "zh":
        parts = [grid if place.building is None else building]
        if place.floor is not None:
            parts.append(f"{place.floor}层")
        if place.unit is not None:
            parts.append(f"{place.unit}室")
        return " ".join(parts)
    parts = [grid if place.building is None else building]
    if place.floor is not None:
        parts.append(f"floor {place.floor}")
    if place.unit is not None:
        parts.append(f"unit {place.unit}")
    return ", ".join(parts)
