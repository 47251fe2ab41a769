"""The elderly-care programme (虚拟养老院) as operators work it: check-ins with residents, and
what their homes' sensors say about their day.

A check-in is a contact an operator records: a routine call, a visit, or the outcome of an
alert (SOS, fall, no activity) they handled. Each care level is due a check-in within its
interval of the last contact; `next_check_in` says when.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from zoneinfo import ZoneInfo

from devices.site import Resident, Site

_SCHEMA = """
CREATE TABLE IF NOT EXISTS care_checkins (
    resident_id TEXT NOT NULL, ts REAL NOT NULL, user TEXT NOT NULL, outcome TEXT NOT NULL,
    note TEXT, alert_id TEXT);
CREATE INDEX IF NOT EXISTS care_checkins_by_resident ON care_checkins(resident_id, ts);
"""


class Outcome(Enum):
    CALLED = "called"              # 已电话联系
    VISITED = "visited"            # 已上门
    FALSE_ALARM = "false_alarm"    # 误报
    HOSPITAL = "hospital"          # 已送医
    NO_ANSWER = "no_answer"        # 无人接听

    @property
    def reached(self) -> bool:
        """Whether someone actually reached the resident (a check-in that counts)."""
        return self is not Outcome.NO_ANSWER


CHECK_IN_EVERY_S = {"intensive": 4 * 3600.0, "assisted": 12 * 3600.0, "self_care": 24 * 3600.0}
"""How long after the last contact the next check-in is due, by care level."""

ACTIVITY: dict[str, float] = {"occupancy": 1.0, "contact": 0.0, "in_bed": 0.0}
"""Readings that mean the resident is up and about: motion seen, the front door opened,
out of bed."""


@dataclass(frozen=True, slots=True)
class CheckIn:
    resident_id: str
    ts: float
    user: str
    outcome: Outcome
    note: str | None
    alert_id: str | None = None


class CareLog:
    """Check-ins, in their own table of hub.db."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=10.0)
        self._lock = threading.Lock()
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, check_in: CheckIn) -> CheckIn:
        with self._lock:
            self._db.execute(
                "INSERT INTO care_checkins(resident_id, ts, user, outcome, note, alert_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (check_in.resident_id, check_in.ts, check_in.user, check_in.outcome.value,
                 check_in.note, check_in.alert_id))
        return check_in

    def of(self, resident_id: str, limit: int = 100) -> list[CheckIn]:
        """Newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT resident_id, ts, user, outcome, note, alert_id FROM care_checkins "
                "WHERE resident_id = ? ORDER BY ts DESC LIMIT ?", (resident_id, limit)).fetchall()
        return [CheckIn(r[0], r[1], r[2], Outcome(r[3]), r[4], r[5]) for r in rows]

    def last_contacts(self) -> dict[str, float]:
        """Per resident, when someone last reached them."""
        reached = [o.value for o in Outcome if o.reached]
        with self._lock:
            rows = self._db.execute(
                f"SELECT resident_id, MAX(ts) FROM care_checkins WHERE outcome IN "  # noqa: S608
                f"({', '.join('?' for _ in reached)}) GROUP BY resident_id", reached).fetchall()
        return {r[0]: r[1] for r in rows}


def next_check_in(resident: Resident, last_contact: float | None, now: float) -> float:
    """When the next check-in is due: an interval after the last contact, or now if nobody
    has been in touch yet."""
    if last_contact is None:
        return now
    return last_contact + CHECK_IN_EVERY_S.get(resident.care_level, CHECK_IN_EVERY_S["assisted"])


def resident_at(site: Site, place_id: str) -> Resident | None:
    """The resident of the home an alert is about (or a place inside it)."""
    for resident in site.residents:
        unit = resident.unit.id
        if place_id == unit or place_id.startswith(unit + "/"):
            return resident
    return None


def day_start(now: float, timezone: str) -> float:
    """Local midnight of `now` in the site's time zone."""
    local = datetime.fromtimestamp(now, ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


@dataclass(frozen=True, slots=True)
class ActivityDay:
    last_activity: float | None
    hours: tuple[int, ...]
    """Activity readings in each hour of the local day so far (24 slots)."""


def activity_day(points: Iterable[tuple[str, float, float]], now: float, timezone: str
                 ) -> ActivityDay:
    """From (metric, ts, value) readings of a home's sensors: the last sign of activity and
    today's activity hour by hour."""
    start = day_start(now, timezone)
    zone = ZoneInfo(timezone)
    hours = [0] * 24
    last: float | None = None
    for metric, ts, value in points:
        if ACTIVITY.get(metric) != value or ts > now:
            continue
        if last is None or ts > last:
            last = ts
        if ts >= start:
            local = datetime.fromtimestamp(ts, zone)
            # A day with a DST change has 23 or 25 hours; slot by the wall clock.
            hours[min(23, local.hour)] += 1
    return ActivityDay(last, tuple(hours))


def activity_window(now: float, timezone: str) -> tuple[float, float]:
    """Readings to look at: today so far, and at least the last 24 hours."""
    return min(day_start(now, timezone), now - timedelta(hours=24).total_seconds()), now
