"""Drills (应急演练) and the simulated clock: what scenario runs drive."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from hub.alerts import AlertError
from hub.api.deps import HubDep, PrincipalDep, WebDep, refuse
from hub.auth.roles import Principal, may_run_drills
from hub.clock import SimulatedClock

router = APIRouter(tags=["drills"])


class DrillIn(BaseModel):
    """Who starts it is who is logged in."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


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


def _may_drill(principal: Principal, what: str) -> None:
    if not may_run_drills(principal.role):
        raise refuse(principal, what)


@router.post("/api/drill", status_code=201)
async def start_drill(hub: HubDep, web: WebDep, principal: PrincipalDep,
                      body: DrillIn) -> DrillOut:
    """From now until it ends, every new alert is an exercise: messages say 【演练】, CAP
    documents carry status Exercise, pages show a drill banner."""
    _may_drill(principal, "start a drill")
    try:
        drill = hub.alerts.start_drill(body.name, principal.name, hub.clock.now())
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    web.auth.record(principal.name, "drill.start", str(drill[0]), body.name)
    return DrillOut(active=True, id=drill[0], name=drill[1], started=drill[2],
                    started_by=drill[3])


@router.delete("/api/drill")
async def end_drill(hub: HubDep, web: WebDep, principal: PrincipalDep) -> DrillOut:
    _may_drill(principal, "end a drill")
    try:
        drill = hub.alerts.end_drill(principal.name, hub.clock.now())
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    web.auth.record(principal.name, "drill.end", str(drill[0]), drill[1])
    return DrillOut(active=False)


@router.get("/api/clock")
def get_clock(hub: HubDep) -> ClockOut:
    clock = hub.clock
    if isinstance(clock, SimulatedClock):
        return ClockOut(now=clock.now(), simulated=True, speed=clock.speed)
    return ClockOut(now=clock.now(), simulated=False, speed=1.0)


@router.put("/api/clock")
async def set_clock(hub: HubDep, web: WebDep, principal: PrincipalDep,
                    body: ClockIn) -> ClockOut:
    """Move a simulated clock (who may run drills may)."""
    _may_drill(principal, "move the clock")
    clock = hub.clock
    if not isinstance(clock, SimulatedClock):
        raise HTTPException(409, "this hub runs on the system clock; start it with "
                                 "`clock: {kind: simulated}` to drive time from a scenario")
    if body.now is not None and body.now < clock.now():
        raise HTTPException(422, "the clock only moves forward")
    clock.set(body.now, body.speed)
    web.auth.record(principal.name, "clock.set", None, body.model_dump_json(exclude_none=True))
    return ClockOut(now=clock.now(), simulated=True, speed=clock.speed)
