from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from devices.site import DeviceInfo
from hub.api.deps import HubDep
from hub.api.schemas import DeviceOut, DevicePage, Location, ReadingPoint, ReadingsOut, SeriesOut
from hub.service import Hub
from rules.schema import parse_duration

router = APIRouter(tags=["devices"])

DEFAULT_WINDOW_S = 24 * 3600.0
MAX_POINTS = 10_000


def _device_out(hub: Hub, device: DeviceInfo) -> DeviceOut:
    state = hub.registry.state(device.id)
    p = device.place
    return DeviceOut(
        id=device.id, kind=device.kind.name, name=device.name,
        location=Location(grid=p.grid, building=p.building, floor=p.floor, unit=p.unit,
                          place=p.id),
        online=state.online, last_seen=state.last_seen)


@router.get("/api/devices")
def list_devices(
    hub: HubDep,
    kind: str | None = None,
    place: Annotated[str | None, Query(description="grid, building, floor or unit id")] = None,
    online: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DevicePage:
    devices = list(hub.site.devices.values())
    if kind is not None:
        devices = [d for d in devices if d.kind.name == kind]
    if place is not None:
        if place not in hub.site.places:
            raise HTTPException(404, f"no place {place!r} in site {hub.site.id!r}")
        # Building ids prefix their floors and units; grids are matched by name.
        devices = [d for d in devices if place in (d.place.grid, d.place.building, d.place.id)
                   or d.place.id.startswith(place + "/")]
    if online is not None:
        devices = [d for d in devices if hub.registry.state(d.id).online is online]
    page = devices[offset:offset + limit]
    return DevicePage(total=len(devices), devices=[_device_out(hub, d) for d in page])


@router.get("/api/devices/{device_id}")
def get_device(hub: HubDep, device_id: str) -> DeviceOut:
    return _device_out(hub, _find(hub, device_id))


def _find(hub: Hub, device_id: str) -> DeviceInfo:
    device = hub.site.devices.get(device_id)
    if device is None:
        raise HTTPException(404, f"no device {device_id!r} in site {hub.site.id!r}")
    return device


def _window(every: str | None) -> float | None:
    if every is None or every == "":
        return None
    try:
        seconds = parse_duration(every)
    except ValueError as exc:
        raise HTTPException(422, f"every={every!r}: {exc}") from None
    if seconds < 1:
        raise HTTPException(422, f"every={every!r}: the window must be at least 1 s")
    return seconds


def parse_time(value: str | None, name: str, default: float) -> float:
    """Epoch seconds, or ISO 8601 with a UTC offset."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"{name}={value!r}: give epoch seconds or ISO 8601 "
                                 "(e.g. 2026-11-26T08:00:00+08:00)") from None
    if parsed.tzinfo is None:
        raise HTTPException(422, f"{name}={value!r} has no UTC offset (add +08:00 or Z)")
    return parsed.timestamp()


@router.get("/api/devices/{device_id}/readings")
async def readings(
    hub: HubDep,
    device_id: str,
    metric: str | None = None,
    start: Annotated[str | None, Query(description="epoch seconds or ISO 8601")] = None,
    end: Annotated[str | None, Query(description="epoch seconds or ISO 8601")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS)] = MAX_POINTS,
    every: Annotated[str | None, Query(
        description="aggregate into windows: 60s, 5m, 1h, 1d (min, max, mean, count); "
                    "the store answers from its 1-minute or 1-hour roll-ups when they fit")
    ] = None,
) -> ReadingsOut:
    device = _find(hub, device_id)
    now = hub.clock.now()
    t_end = parse_time(end, "end", now)
    t_start = parse_time(start, "start", t_end - DEFAULT_WINDOW_S)
    if t_start > t_end:
        raise HTTPException(422, "start is after end")
    if metric is not None and metric not in device.kind.metrics:
        raise HTTPException(404, f"{device.kind.name} {device_id!r} has no metric {metric!r}; "
                                 f"it has: {', '.join(device.kind.metrics)}")
    metrics = [metric] if metric is not None else list(device.kind.metrics)
    every_s = _window(every)
    series = []
    for name in metrics:
        if every_s is not None:
            buckets = await asyncio.to_thread(hub.store.query_aggregate, device_id, name,
                                              t_start, t_end, every_s)
            series.append(SeriesOut(
                device=device_id, metric=name, unit=device.kind.metrics[name].unit,
                start=t_start, end=t_end, truncated=len(buckets) > limit, every=every_s,
                points=[ReadingPoint(ts=ts, value=mean, min=lo, max=hi, count=n)
                        for ts, lo, hi, mean, n in buckets[:limit]]))
            continue
        points = await asyncio.to_thread(hub.store.query, device_id, name, t_start, t_end,
                                         limit + 1)
        series.append(SeriesOut(
            device=device_id, metric=name, unit=device.kind.metrics[name].unit,
            start=t_start, end=t_end, truncated=len(points) > limit,
            points=[ReadingPoint(ts=ts, value=v) for ts, v in points[:limit]]))
    return ReadingsOut(device=device_id, series=series)
