"""Drills (应急演练) and the simulated clock: what scenario runs drive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from hub.alerts import AlertError
from hub.api.deps import HubDep
from hub.clock import SimulatedClock

router = APIRouter(tags=["drills"])


class DrillIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    by: str = Field(min_length=1, max_length=100)


class DrillOut(BaseModel):
    active: bool
    id: int | None = None
    name: str | None = None
    started: float | None = None
    started_by: str | None = None


class ClockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    now: float | None = None
    """Jump to this epoch time (forward only)."""
    speed: float | None = Field(None, gt=0, le=100_000)


class ClockOut(BaseModel):
    now: float
    simulated: bool
    speed: float


@router.get("/api/drill")
def current_drill(hub: HubDep) -> DrillOut:
    drill = hub.alerts.drill
    if drill is None:
        return DrillOut(active=False)
    return DrillOut(active=True, id=drill[0], name=drill[1], started=drill[2],
                    started_by=drill[3])


@router.post("/api/drill", status_code=201)
def start_drill(hub: HubDep, body: DrillIn) -> DrillOut:
    """From now until it ends, every new alert is an exercise: messages say 【演练】, CAP
    documents carry status Exercise, pages show a drill banner."""
    try:
        drill = hub.alerts.start_drill(body.name, body.by, hub.clock.now())
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return DrillOut(active=True, id=drill[0], name=drill[1], started=drill[2],
                    started_by=drill[3])


@router.delete("/api/drill")
def end_drill(hub: HubDep, by: Annotated[str, Query(min_length=1)]) -> DrillOut:
    try:
        hub.alerts.end_drill(by, hub.clock.now())
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return DrillOut(active=False)


@router.get("/api/clock")
def get_clock(hub: HubDep) -> ClockOut:
    clock = hub.clock
    if isinstance(clock, SimulatedClock):
        return ClockOut(now=clock.now(), simulated=True, speed=clock.speed)
    return ClockOut(now=clock.now(), simulated=False, speed=1.0)


@router.put("/api/clock")
def set_clock(hub: HubDep, body: ClockIn) -> ClockOut:
    clock = hub.clock
    if not isinstance(clock, SimulatedClock):
        raise HTTPException(409, "this hub runs on the system clock; start it with "
                                 "`clock: {kind: simulated}` to drive time from a scenario")
    if body.now is not None and body.now < clock.now():
        raise HTTPException(422, "the clock only moves forward")
    clock.set(body.now, body.speed)
    return ClockOut(now=clock.now(), simulated=True, speed=clock.speed)
