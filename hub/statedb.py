"""hub.db: the hub's own state in SQLite (WAL) — devices' last contact, alerts, their history.

Readings live elsewhere (the time-series store); this database is small and written at the
rate of alert transitions and a periodic device-state flush.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, last_seen REAL, online INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, category TEXT NOT NULL,
    severity TEXT NOT NULL, state TEXT NOT NULL,
    subject_level TEXT NOT NULL, subject_id TEXT NOT NULL,
    device_id TEXT NOT NULL, metric TEXT, value REAL,
    message_zh TEXT NOT NULL, message_en TEXT NOT NULL,
    raised_at REAL NOT NULL, updated_at REAL NOT NULL, cleared_at REAL,
    occurrences INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS alerts_by_state ON alerts(state, raised_at);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_alert
    ON alerts(rule_id, subject_id) WHERE state = 'active';
CREATE TABLE IF NOT EXISTS alert_events (
    alert_id TEXT NOT NULL, ts REAL NOT NULL, transition TEXT NOT NULL,
    device_id TEXT, value REAL);
CREATE INDEX IF NOT EXISTS alert_events_by_alert ON alert_events(alert_id, ts);
"""


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: str
    rule_id: str
    category: str
    severity: str
    state: str
    """`active` or `cleared`."""
    subject_level: str
    subject_id: str
    device_id: str
    metric: str | None
    value: float | None
    message_zh: str
    message_en: str
    raised_at: float
    updated_at: float
    cleared_at: float | None
    occurrences: int


@dataclass(frozen=True, slots=True)
class AlertEvent:
    alert_id: str
    ts: float
    transition: str
    device_id: str | None
    value: float | None


_ALERT_COLUMNS = ", ".join(AlertRecord.__dataclass_fields__)


class StateDB:
    """One connection shared under a lock: calls come from the event loop and from threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ devices

    def save_devices(self, rows: Iterable[tuple[str, float | None, bool]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO devices(id, last_seen, online) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen, "
                "online = excluded.online", rows)
            self._db.execute("COMMIT")

    def load_devices(self) -> dict[str, tuple[float | None, bool]]:
        with self._lock:
            rows = self._db.execute("SELECT id, last_seen, online FROM devices").fetchall()
        return {r[0]: (r[1], bool(r[2])) for r in rows}

    # ------------------------------------------------------------------ alerts

    def save_alert(self, alert: AlertRecord, event: AlertEvent) -> None:
        """The alert's new state and the transition that led to it, in one transaction."""
        values = tuple(getattr(alert, f) for f in AlertRecord.__dataclass_fields__)
        marks = ", ".join("?" for _ in values)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(f"INSERT OR REPLACE INTO alerts({_ALERT_COLUMNS}) "  # noqa: S608
                                 f"VALUES ({marks})", values)
                self._db.execute(
                    "INSERT INTO alert_events(alert_id, ts, transition, device_id, value) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (event.alert_id, event.ts, event.transition, event.device_id, event.value))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def alerts(self, state: str | None = None, limit: int = 500) -> list[AlertRecord]:
        query = f"SELECT {_ALERT_COLUMNS} FROM alerts"  # noqa: S608
        params: tuple[object, ...] = ()
        if state is not None:
            query += " WHERE state = ?"
            params = (state,)
        query += " ORDER BY raised_at DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit)).fetchall()
        return [AlertRecord(*r) for r in rows]

    def alert(self, alert_id: str) -> AlertRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?",  # noqa: S608
                (alert_id,)).fetchone()
        return AlertRecord(*row) if row else None

    def alert_events(self, alert_id: str) -> list[AlertEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT alert_id, ts, transition, device_id, value FROM alert_events "
                "WHERE alert_id = ? ORDER BY ts, rowid", (alert_id,)).fetchall()
        return [AlertEvent(*r) for r in rows]
