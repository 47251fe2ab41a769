"""Generate a realistic site file: grids of buildings, floors of homes, their devices,
residents in the care programme, and the responder roster.

Deterministic for a given seed, so tests and benchmarks can regenerate the same community.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = "秀英桂兰建国淑珍玉兰志强丽华国庆德明凤英文华"


@dataclass(frozen=True, slots=True)
class SiteShape:
    site_id: str = "demo"
    name: str = "和苑社区"
    grids: int = 1
    buildings_per_grid: int = 2
    floors: int = 6
    units_per_floor: int = 2
    elderly_share: float = 0.15
    """Share of homes with an elderly resident living alone, in the care programme."""
    seed: int = 7
    detailed: bool = False
    """Rooms on home devices, a kitchen heat detector in every home, a bathroom motion sensor,
    fall detector and wearable for each resident, a tilt sensor per building. Adds devices
    only (no random draws), so the same seed still picks the same residents."""


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(2))


def generate_site(shape: SiteShape) -> dict[str, Any]:
    """A site document (plain dicts, ready for YAML) of the given shape."""
    rng = random.Random(shape.seed)
    grids: list[dict[str, Any]] = []
    roster: list[dict[str, Any]] = [
        {"id": "duty-1", "name": _person(rng), "role": "duty_officer", "phone": "+8613800000001"},
        {"id": "centre", "name": "街道应急指挥中心", "role": "command_centre",
         "phone": "+8613800000002"},
        {"id": "care-1", "name": _person(rng), "role": "care_operator",
         "phone": "+8613800000003"},
    ]
    residents: list[dict[str, Any]] = []
    building_no = 0
    for g in range(1, shape.grids + 1):
        grid_id = f"g{g}"
        grid_devices = [{"id": f"{grid_id}-flood-gauge", "kind": "water_level"},
                        {"id": f"{grid_id}-gate-cam", "kind": "camera"}]
        roster.append({"id": f"{grid_id}-leader", "name": _person(rng), "role": "grid_leader",
                       "place": grid_id, "phone": f"+86139{g:08d}"})
        buildings = []
        for _ in range(shape.buildings_per_grid):
            building_no += 1
            b = f"b{building_no}"
            roster.append({"id": f"{b}-leader", "name": _person(rng), "role": "building_leader",
                           "place": b, "phone": f"+86137{building_no:08d}"})
            floors = []
            for f in range(1, shape.floors + 1):
                units = []
                for u in range(1, shape.units_per_floor + 1):
                    unit_id = f"{f}{u:02d}"
                    prefix = f"{b}-{unit_id}"
                    devices = _home_devices(prefix, shape.detailed)
                    if rng.random() < shape.elderly_share:
                        devices += _care_devices(prefix, shape.detailed)
                        residents.append({
                            "id": f"res-{prefix}", "name": _person(rng),
                            "unit": f"{b}/f{f}/{unit_id}",
                            "care_level": rng.choice(["self_care", "assisted", "intensive"]),
                            "contacts": [f"+86135{rng.randrange(10**8):08d}"]})
                    units.append({"id": unit_id, "devices": devices})
                floors.append({"number": f, "units": units,
                               "devices": [{"id": f"{b}-f{f}-cam", "kind": "camera"}]})
                if f % 6 == 1:
                    roster.append({"id": f"{b}-f{f}-leader", "name": _person(rng),
                                   "role": "floor_leader", "place": f"{b}/f{f}",
                                   "phone": f"+86136{building_no:04d}{f:04d}"})
            plant = [{"id": f"{b}-pump", "kind": "fire_pump"},
                     {"id": f"{b}-tank", "kind": "water_tank"},
                     {"id": f"{b}-lift", "kind": "elevator"},
                     {"id": f"{b}-meter", "kind": "power_meter"},
                     {"id": f"{b}-nvr", "kind": "nvr"},
                     {"id": f"{b}-temp", "kind": "temp_humidity"}]
            if shape.detailed:
                plant.append({"id": f"{b}-tilt", "kind": "tilt_sensor"})
            buildings.append({"id": b, "name": f"{building_no}号楼", "devices": plant,
                              "floors": floors})
        grids.append({"id": grid_id, "name": f"第{g}网格", "devices": grid_devices,
                      "buildings": buildings})
    return {"id": shape.site_id, "name": shape.name, "timezone": "Asia/Shanghai",
            "location": {"lat": 31.2304, "lon": 121.4737},
            "grids": grids, "roster": roster, "residents": residents}


def _home_devices(prefix: str, detailed: bool) -> list[dict[str, Any]]:
    if not detailed:
        return [{"id": f"{prefix}-smoke", "kind": "smoke_detector"},
                {"id": f"{prefix}-gas", "kind": "gas_detector"},
                {"id": f"{prefix}-leak", "kind": "water_leak"}]
    return [{"id": f"{prefix}-smoke", "kind": "smoke_detector", "room": "living_room"},
            {"id": f"{prefix}-heat", "kind": "heat_detector", "room": "kitchen"},
            {"id": f"{prefix}-gas", "kind": "gas_detector", "room": "kitchen"},
            {"id": f"{prefix}-leak", "kind": "water_leak", "room": "bathroom"}]


def _care_devices(prefix: str, detailed: bool) -> list[dict[str, Any]]:
    """The care kit of a resident who lives alone (养老监护套装)."""
    if not detailed:
        return [{"id": f"{prefix}-motion", "kind": "motion_sensor"},
                {"id": f"{prefix}-door", "kind": "door_contact"},
                {"id": f"{prefix}-sos", "kind": "sos_button"},
                {"id": f"{prefix}-bed", "kind": "bed_sensor"}]
    return [{"id": f"{prefix}-motion", "kind": "motion_sensor", "room": "living_room"},
            {"id": f"{prefix}-bath-motion", "kind": "motion_sensor", "room": "bathroom"},
            {"id": f"{prefix}-door", "kind": "door_contact", "room": "hall"},
            {"id": f"{prefix}-sos", "kind": "sos_button", "room": "bedroom"},
            {"id": f"{prefix}-bed", "kind": "bed_sensor", "room": "bedroom"},
            {"id": f"{prefix}-fall", "kind": "fall_detector", "room": "bathroom"},
            {"id": f"{prefix}-band", "kind": "wearable"}]


def shape_for_devices(devices: int, site_id: str = "bench", seed: int = 7) -> SiteShape:
    """A shape of roughly `devices` devices (about 3.6 per home plus building equipment)."""
    homes_per_building = 18 * 8
    per_building = homes_per_building * 3.6 + 18 + 6
    buildings = max(1, round(devices / per_building))
    grids = max(1, (buildings + 9) // 10)
    return SiteShape(site_id=site_id, name="压测社区", grids=grids,
                     buildings_per_grid=max(1, round(buildings / grids)), floors=18,
                     units_per_floor=8, seed=seed)
