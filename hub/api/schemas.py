"""Response bodies of the HTTP API (pydantic at the edge)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["called", "visited", "false_alarm", "hospital", "no_answer"]
"""What a care operator did about an alert or at a check-in."""


class Location(BaseModel):
    grid: str
    building: str | None
    floor: int | None
    unit: str | None
    place: str
    """The place id: `g1`, `b3`, `b3/f12` or `b3/f12/1202`."""


class DeviceOut(BaseModel):
    id: str
    kind: str
    name: str | None
    location: Location
    online: bool
    last_seen: float | None


class DevicePage(BaseModel):
    total: int
    devices: list[DeviceOut]


class ReadingPoint(BaseModel):
    ts: float
    value: float
    """The reading; with `every=`, the mean of the window."""
    min: float | None = None
    max: float | None = None
    count: int | None = None


class SeriesOut(BaseModel):
    device: str
    metric: str
    unit: str
    start: float
    end: float
    points: list[ReadingPoint]
    truncated: bool
    every: float | None = None
    """Window in seconds when the points are aggregates (min, max, mean, count)."""


class ReadingsOut(BaseModel):
    device: str
    series: list[SeriesOut]


class Subject(BaseModel):
    level: str
    id: str


class Message(BaseModel):
    zh: str
    en: str


class Told(BaseModel):
    receiver: str
    recipient: str | None
    """The roster id of the person reached; None for a group (a duty robot, a webhook)."""
    name: str | None
    state: str
    """pending | sent | failed | fell_back — the best any message to them reached."""
    sent_at: float | None


class ResidentRef(BaseModel):
    id: str
    name: str


class AlertOut(BaseModel):
    id: str
    rule: str
    category: str
    severity: str
    state: str
    """active_unack | active_ack | cleared_unack | cleared_ack"""
    active: bool
    subject: Subject
    place: str
    device: str
    metric: str | None
    value: float | None
    message: Message
    raised_at: float
    updated_at: float
    cleared_at: float | None
    occurrences: int
    acknowledged_by: str | None
    acknowledged_at: float | None
    cleared_by: str | None
    suppressed: str | None
    """Why it is not announced: silenced:<id>, inhibited:<alert id> or flapping."""
    escalation: int
    """Steps taken up the responder chain because nobody acknowledged."""
    notified_at: float | None
    exercise: bool = False
    """Raised during a drill."""
    place_name: Message | None = None
    """The place in words: `1号楼 1层 101室` / `1号楼, floor 1, unit 101`."""
    next_escalation_at: float | None = None
    """When the next role up the chain is told if nobody acknowledges; None if never."""
    resident: ResidentRef | None = None
    """The care-programme resident whose home this is about."""
    told: list[Told] | None = None
    """Receivers and people told so far (for active alerts)."""


class TimelineEntry(BaseModel):
    ts: float
    transition: str
    device: str | None
    metric: str | None
    value: float | None
    user: str | None
    note: str | None
    outcome: Outcome | None = None


class AlertDetail(BaseModel):
    alert: AlertOut
    timeline: list[TimelineEntry]


class AlertAction(BaseModel):
    """Who acts is who is logged in (or whose API token it is): not part of the body."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=2000)
    outcome: Outcome | None = None
    """For elderly-care alerts: what was done (called, visited, false_alarm, hospital,
    no_answer). Recorded in the timeline and as a check-in with the resident."""


class SilenceIn(BaseModel):
    """The author is who is logged in."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)
    starts: str | None = None
    """Epoch seconds or ISO 8601; default now."""
    ends: str | None = None
    """Epoch seconds or ISO 8601; default one hour after the start."""
    device: str | None = None
    place: str | None = None
    rule: str | None = None
    category: str | None = None


class SilenceOut(BaseModel):
    id: str
    starts: float
    ends: float
    author: str
    reason: str
    device: str | None
    place: str | None
    rule: str | None
    category: str | None
    created: float
    in_force: bool


class QuarantinedOut(BaseModel):
    ts: float
    topic: str
    reason: str
    detail: str
    payload: str
    device: str | None
    partial: bool


class QuarantineOut(BaseModel):
    total: int
    by_reason: dict[str, int]
    recent: list[QuarantinedOut]


class StoreHealth(BaseModel):
    kind: str
    queue_depth: int
    written: int
    failures: int


class Health(BaseModel):
    status: str
    """`ok`, or `degraded` when the broker is unreachable or the store is failing."""
    site: str
    mqtt_connected: bool
    devices: int
    devices_online: int
    messages: dict[str, int]
    quarantined: int
    alerts_active: int
    store: StoreHealth


class DeliveryOut(BaseModel):
    key: str
    """Idempotency key the receiver saw."""
    transition: str
    route: str
    receiver: str
    recipient: str | None
    speakers: bool
    state: str
    """pending | sent | failed | fell_back"""
    attempts: int
    created: float
    sent_at: float | None
    detail: str | None
    """The receiver's answer, or why the last attempt failed."""
    fallback_of: int | None
