"""What a device said, decoded: the frozen records that flow from ingest to store and rules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One telemetry message: several metrics of one device at one instant.

    Values are floats (booleans as 0.0 / 1.0) so that storage and rules need one code path.
    """

    device_id: str
    ts: float
    values: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    device_id: str
    ts: float
    type: str


@dataclass(frozen=True, slots=True)
class Availability:
    device_id: str
    ts: float
    online: bool


DeviceMessage = Telemetry | DeviceEvent | Availability
