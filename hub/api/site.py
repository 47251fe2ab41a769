"""The community at a glance: its structure, the worst alert in each place, device health by
building, the camera wall, and one place with its devices."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from devices.site import DeviceInfo, Place, PlaceLevel, Site
from hub.api.alertview import alert_view, place_names
from hub.api.deps import HubDep, WebDep
from hub.api.livefeed import board_order
from hub.api.schemas import AlertOut, Message, ResidentRef
from hub.api.site_schemas import (
    BuildingOut,
    CameraOut,
    FloorOut,
    GridOut,
    HealthOut,
    PlaceDeviceOut,
    PlaceOut,
    SiteOut,
    SiteStatusOut,
    UnitOut,
)
from hub.api.vitals import Vitals
from hub.service import Hub
from hub.statedb import AlertRecord
from rules.lifecycle import contains
from rules.schema import Severity

router = APIRouter(tags=["site"])

_CAMERAS = ("camera", "nvr")


def _devices_at(site: Site) -> dict[str, int]:
    counts: dict[str, int] = {}
    for device in site.devices.values():
        counts[device.place.id] = counts.get(device.place.id, 0) + 1
    return counts


@router.get("/api/site")
def site_structure(hub: HubDep) -> SiteOut:
    """Grids → buildings → floors → homes, in the site file's order, with names."""
    site = hub.site
    at = _devices_at(site)
    residents = {r.unit.id: ResidentRef(id=r.id, name=r.name) for r in site.residents}
    grids: dict[str, GridOut] = {}
    buildings: dict[str, BuildingOut] = {}
    floors: dict[str, FloorOut] = {}
    for place in site.places.values():
        level = place.level
        if level is PlaceLevel.GRID:
            grids[place.id] = GridOut(id=place.id, name=site.grid_names.get(place.id, place.id),
                                      devices=at.get(place.id, 0), buildings=[])
        elif level is PlaceLevel.BUILDING:
            building = BuildingOut(id=place.id,
                                   name=site.building_names.get(place.id, place.id),
                                   devices=at.get(place.id, 0), floors=[])
            buildings[place.id] = building
            grids[place.grid].buildings.append(building)
        elif level is PlaceLevel.FLOOR:
            assert place.floor is not None
            assert place.building is not None
            floor = FloorOut(id=place.id, number=place.floor, devices=at.get(place.id, 0),
                             units=[])
            floors[place.id] = floor
            buildings[place.building].floors.append(floor)
        else:
            assert place.unit is not None
            floors[place.at(PlaceLevel.FLOOR).id].units.append(UnitOut(
                id=place.id, unit=place.unit, devices=at.get(place.id, 0),
                resident=residents.get(place.id)))
    return SiteOut(id=site.id, name=site.name, timezone=site.timezone,
                   devices=len(site.devices), grids=list(grids.values()))


def _enclosing(place: Place) -> list[str]:
    """The place and every place around it."""
    ids = [place.at(level).id for level in (PlaceLevel.GRID, PlaceLevel.BUILDING,
                                             PlaceLevel.FLOOR, PlaceLevel.UNIT)
           if _deep_enough(place, level)]
    return list(dict.fromkeys(ids))


def _deep_enough(place: Place, level: PlaceLevel) -> bool:
    depth = {PlaceLevel.GRID: 0, PlaceLevel.BUILDING: 1, PlaceLevel.FLOOR: 2, PlaceLevel.UNIT: 3}
    return depth[level] <= depth[place.level]


def _worse(a: str | None, b: str) -> str:
    return b if a is None or Severity(b).rank > Severity(a).rank else a


def _device_alerts(alerts: list[AlertRecord]) -> dict[str, str]:
    worst: dict[str, str] = {}
    for alert in alerts:
        worst[alert.device_id] = _worse(worst.get(alert.device_id), alert.severity)
    return worst


@router.get("/api/site/status")
async def site_status(hub: HubDep, web: WebDep) -> SiteStatusOut:
    """What the matrix, the health panel and the camera wall show; refreshed by the pages
    every few seconds (alerts themselves arrive over the live feed)."""
    site = hub.site
    active = list(hub.alerts.active.values())
    worst: dict[str, str] = {}
    counts: dict[str, int] = {}
    for alert in active:
        place = site.places.get(alert.place_id)
        for place_id in _enclosing(place) if place else [alert.place_id]:
            worst[place_id] = _worse(worst.get(place_id), alert.severity)
            counts[place_id] = counts.get(place_id, 0) + 1
    vitals = await web.vitals.get()
    return SiteStatusOut(now=hub.clock.now(), worst=worst, active=counts,
                         health=_health(hub, vitals),
                         cameras=_cameras(hub, vitals, _device_alerts(active)))


def _health(hub: Hub, vitals: Vitals) -> list[HealthOut]:
    site, registry = hub.site, hub.registry
    groups: dict[str, list[DeviceInfo]] = {}
    for device in site.devices.values():
        groups.setdefault(device.place.building or device.place.grid, []).append(device)
    out = []
    for key, members in groups.items():
        is_building = key in site.building_names
        states = [registry.state(d.id) for d in members]
        online = sum(s.online for s in states)
        never = sum(1 for s in states if not s.online and s.last_seen is None)
        out.append(HealthOut(
            id=key, level="building" if is_building else "grid",
            name=site.building_names.get(key) or site.grid_names.get(key, key),
            devices=len(members), online=online, offline=len(members) - online - never,
            never_seen=never, low_battery=sum(vitals.low_battery(d.id) for d in members)))
    return out


def _flag(value: float | None) -> bool | None:
    return None if value is None else value >= 0.5


def _cameras(hub: Hub, vitals: Vitals, device_alerts: dict[str, str]) -> list[CameraOut]:
    out = []
    for device in hub.site.devices.values():
        if device.kind.name not in _CAMERAS:
            continue
        state = hub.registry.state(device.id)
        out.append(CameraOut(
            id=device.id, kind=device.kind.name, name=device.name, place=device.place.id,
            place_name=Message(**place_names(hub.site, device.place.id)),
            online=state.online, last_seen=state.last_seen,
            recording=_flag(vitals.value(device.id, "recording")),
            fps=vitals.value(device.id, "fps"),
            disk_ok=_flag(vitals.value(device.id, "disk_ok")),
            alert=device_alerts.get(device.id)))
    return out


def place_devices(hub: Hub, vitals: Vitals, place: Place) -> list[PlaceDeviceOut]:
    """The devices of a place and of everything inside it."""
    device_alerts = _device_alerts(list(hub.alerts.active.values()))
    out = []
    for device in hub.site.devices.values():
        if not contains(place, device.place):
            continue
        state = hub.registry.state(device.id)
        out.append(PlaceDeviceOut(
            id=device.id, kind=device.kind.name, kind_label=device.kind.label_zh,
            name=device.name, room=device.room, place=device.place.id, online=state.online,
            last_seen=state.last_seen, battery=vitals.value(device.id, "battery"),
            alert=device_alerts.get(device.id)))
    return out


def alerts_in(hub: Hub, place: Place) -> list[AlertOut]:
    site = hub.site
    inside = [a for a in hub.alerts.active.values()
              if contains(place, site.places.get(a.place_id) or Place(a.place_id))]
    return [AlertOut.model_validate(v) for v in board_order([alert_view(hub, a)
                                                             for a in inside])]


@router.get("/api/site/places/{place_id:path}")
async def place_detail(hub: HubDep, web: WebDep, place_id: str) -> PlaceOut:
    """One place — a floor clicked in the matrix — with its devices and active alerts."""
    place = hub.site.places.get(place_id)
    if place is None:
        raise HTTPException(404, f"no place {place_id!r} in site {hub.site.id!r} (places "
                                 "look like g1, b1, b1/f3, b1/f3/301)")
    vitals = await web.vitals.get()
    residents = [ResidentRef(id=r.id, name=r.name) for r in hub.site.residents
                 if contains(place, r.unit)]
    return PlaceOut(id=place.id, level=place.level.value,
                    name=Message(**place_names(hub.site, place.id)),
                    devices=place_devices(hub, vitals, place), alerts=alerts_in(hub, place),
                    residents=residents)
