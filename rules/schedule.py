"""Daily windows in the site's local time: `between: ["22:00", "06:00"]`, `at: "09:30"`.

Pure: the caller passes epoch seconds; the zone comes from the site file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_clock(value: str) -> time:
    match = _CLOCK.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a time of day (write e.g. 07:00 or 22:30)")
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """From `start` to `end` local time every day; crosses midnight when end <= start."""

    start: time
    end: time

    def contains(self, ts: float, zone: ZoneInfo) -> bool:
        local = datetime.fromtimestamp(ts, zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def opened_at(self, ts: float, zone: ZoneInfo) -> float:
        """When the window containing `ts` opened (epoch seconds). `ts` must be inside."""
        local = datetime.fromtimestamp(ts, zone)
        opened = datetime.combine(local.date(), self.start, zone)
        if opened > local:
            opened -= timedelta(days=1)
        return opened.timestamp()


def last_occurrence(at: time, ts: float, zone: ZoneInfo) -> float:
    """The most recent local `at` not after `ts` (epoch seconds)."""
    local = datetime.fromtimestamp(ts, zone)
    moment = datetime.combine(local.date(), at, zone)
    if moment > local:
        moment -= timedelta(days=1)
    return moment.timestamp()
