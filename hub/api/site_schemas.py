"""Bodies of the site, device-health and residents endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hub.api.schemas import AlertOut, Message, Outcome, ResidentRef


class UnitOut(BaseModel):
    id: str
    """The place id, `b1/f3/301`."""
    unit: str
    devices: int
    resident: ResidentRef | None


class FloorOut(BaseModel):
    id: str
    number: int
    devices: int
    """On the floor itself (corridor cameras), not in its homes."""
    units: list[UnitOut]


class BuildingOut(BaseModel):
    id: str
    name: str
    devices: int
    floors: list[FloorOut]


class GridOut(BaseModel):
    id: str
    name: str
    devices: int
    buildings: list[BuildingOut]


class SiteOut(BaseModel):
    id: str
    name: str
    timezone: str
    devices: int
    grids: list[GridOut]


class HealthOut(BaseModel):
    """Device health of a building (or of a grid's own devices: gauges, gate cameras)."""

    id: str
    name: str
    level: str
    devices: int
    online: int
    offline: int
    """Heard from before, silent now."""
    never_seen: int
    low_battery: int


class CameraOut(BaseModel):
    id: str
    kind: str
    """camera | nvr"""
    name: str | None
    place: str
    place_name: Message
    online: bool
    last_seen: float | None
    recording: bool | None
    fps: float | None
    disk_ok: bool | None
    alert: str | None
    """The severity of the worst active alert about it."""


class SiteStatusOut(BaseModel):
    now: float
    worst: dict[str, str]
    """Place id → severity of the worst active alert in it (rolled up to floor, building
    and grid)."""
    active: dict[str, int]
    """Place id → active alerts in it (rolled up)."""
    health: list[HealthOut]
    cameras: list[CameraOut]


class PlaceDeviceOut(BaseModel):
    id: str
    kind: str
    kind_label: str
    name: str | None
    room: str | None
    place: str
    online: bool
    last_seen: float | None
    battery: float | None
    alert: str | None


class PlaceOut(BaseModel):
    id: str
    level: str
    name: Message
    devices: list[PlaceDeviceOut]
    """Of the place and everything inside it."""
    alerts: list[AlertOut]
    """Active alerts in it, most severe first."""
    residents: list[ResidentRef]


class ActivityOut(BaseModel):
    last_activity: float | None
    """The last sign of the resident up and about: motion, the front door, out of bed."""
    hours: list[int]
    """Activity readings in each hour of today (local time), 24 slots."""


class CheckInOut(BaseModel):
    ts: float
    user: str
    outcome: Outcome
    note: str | None
    alert_id: str | None


class ResidentOut(BaseModel):
    id: str
    name: str
    unit: str
    place_name: Message
    care_level: str
    lives_alone: bool
    contacts: list[str]
    """Phone numbers; masked for viewers."""
    devices: list[PlaceDeviceOut]
    activity: ActivityOut
    last_check_in: CheckInOut | None
    next_check_in_due: float
    alerts: list[AlertOut]
    """Active alerts at their home, most severe first."""


class ResidentHistoryOut(BaseModel):
    resident: ResidentOut
    alerts: list[AlertOut]
    """Every alert at their home, newest first."""
    check_ins: list[CheckInOut]


class CheckInIn(BaseModel):
    """A contact with a resident; who made it is who is logged in."""

    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    note: str | None = Field(None, max_length=2000)
