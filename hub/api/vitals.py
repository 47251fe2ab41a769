"""The latest battery level, recording state and disk state of each device that reports
them, read from the reading store and kept for a minute: the device-health panel and the
camera wall of every open page share one read. (Online and offline come from the registry,
live.) One store query per device and metric: fine for a community of a few thousand
devices; for tens of thousands the ingest pipeline should keep these few values as they
arrive instead."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from hub.service import Hub

VITAL_METRICS = ("battery", "recording", "disk_ok", "fps")
LOW_BATTERY_PCT = 20.0
TTL_S = 60.0
_WINDOWS_S = (300.0, 3600.0, 86400.0)
_PAGE = 5000


@dataclass(frozen=True, slots=True)
class Vitals:
    read_at: float
    values: dict[tuple[str, str], tuple[float, float]]
    """(device, metric) → (ts, value) of the latest reading."""

    def value(self, device_id: str, metric: str) -> float | None:
        found = self.values.get((device_id, metric))
        return None if found is None else found[1]

    def low_battery(self, device_id: str) -> bool:
        level = self.value(device_id, "battery")
        return level is not None and level < LOW_BATTERY_PCT


class DeviceVitals:
    def __init__(self, hub: Hub, ttl_s: float = TTL_S) -> None:
        self._hub = hub
        self._ttl_s = ttl_s
        self._current: Vitals | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Vitals:
        current = self._current
        if current is not None and time.monotonic() - current.read_at < self._ttl_s:
            return current
        async with self._lock:
            current = self._current
            if current is None or time.monotonic() - current.read_at >= self._ttl_s:
                current = await asyncio.to_thread(self._read)
                self._current = current
        return current

    def _read(self) -> Vitals:
        hub = self._hub
        now = hub.clock.now()
        values = {}
        for device in hub.site.devices.values():
            for metric in VITAL_METRICS:
                if metric in device.kind.metrics:
                    latest = self._latest(device.id, metric, now)
                    if latest is not None:
                        values[(device.id, metric)] = latest
        return Vitals(time.monotonic(), values)

    def _latest(self, device_id: str, metric: str, now: float) -> tuple[float, float] | None:
        store = self._hub.store
        for window in _WINDOWS_S:
            start = now - window
            last = None
            while True:
                points = store.query(device_id, metric, start, now + 60, _PAGE)
                if points:
                    last = points[-1]
                if len(points) < _PAGE:
                    break
                start = points[-1][0] + 1e-6
            if last is not None:
                return last
        return None
