"""hub.db: the hub's own state in SQLite (WAL) — devices' last contact, alerts, their history.

Readings live elsewhere (the time-series store); this database is small and written at the
rate of alert transitions and a periodic device-state flush.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, last_seen REAL, online INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, category TEXT NOT NULL,
    severity TEXT NOT NULL, state TEXT NOT NULL,
    subject_level TEXT NOT NULL, subject_id TEXT NOT NULL, place_id TEXT NOT NULL,
    device_id TEXT NOT NULL, metric TEXT, value REAL,
    message_zh TEXT NOT NULL, message_en TEXT NOT NULL,
    raised_at REAL NOT NULL, updated_at REAL NOT NULL, cleared_at REAL,
    occurrences INTEGER NOT NULL DEFAULT 1,
    acknowledged_by TEXT, acknowledged_at REAL, cleared_by TEXT, suppressed TEXT,
    escalation INTEGER NOT NULL DEFAULT 0, notified_at REAL,
    exercise INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS alerts_by_state ON alerts(state, raised_at);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_alert
    ON alerts(rule_id, subject_id) WHERE state IN ('active_unack', 'active_ack');
CREATE TABLE IF NOT EXISTS alert_events (
    alert_id TEXT NOT NULL, ts REAL NOT NULL, transition TEXT NOT NULL,
    device_id TEXT, metric TEXT, value REAL, user TEXT, note TEXT, outcome TEXT);
CREATE INDEX IF NOT EXISTS alert_events_by_alert ON alert_events(alert_id, ts);
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY, starts REAL NOT NULL, ends REAL NOT NULL, author TEXT NOT NULL,
    reason TEXT NOT NULL, device_id TEXT, place_id TEXT, rule_id TEXT, category TEXT,
    created REAL NOT NULL, deleted_at REAL, deleted_by TEXT);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, alert_id TEXT NOT NULL,
    transition TEXT NOT NULL, route TEXT NOT NULL, receiver TEXT NOT NULL,
    recipient_id TEXT, speakers INTEGER NOT NULL DEFAULT 0, group_key TEXT,
    notification TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL, created REAL NOT NULL, sent_at REAL, detail TEXT,
    fallback_of INTEGER);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(state, not_before);
CREATE INDEX IF NOT EXISTS deliveries_due_by_receiver ON deliveries(state, receiver, not_before);
CREATE INDEX IF NOT EXISTS deliveries_by_alert ON deliveries(alert_id);
CREATE TABLE IF NOT EXISTS drills (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, started REAL NOT NULL, started_by TEXT NOT NULL,
    ended REAL, ended_by TEXT);
CREATE TABLE IF NOT EXISTS engine_state (
    id INTEGER PRIMARY KEY CHECK (id = 1), saved_at REAL NOT NULL, snapshot TEXT NOT NULL);
"""

ACTIVE_STATES = ("active_unack", "active_ack")
_UPSERT_DEVICES = (
    # One statement for many rows (a JSON array of [id, last_seen, online]): sqlite3 lets go
    # of the GIL around every step, and getting it back costs up to a switch interval when
    # ingest is busy, so a row per step made a flush of 10,000 devices crawl.
    "INSERT INTO devices(id, last_seen, online) "
    "SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?) WHERE true "
    "ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen, online = excluded.online")
DEVICE_ROWS_PER_COMMIT = 1000


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: str
    rule_id: str
    category: str
    severity: str
    state: str
    """active_unack | active_ack | cleared_unack | cleared_ack (rules.lifecycle.AlertState)."""
    subject_level: str
    subject_id: str
    place_id: str
    device_id: str
    metric: str | None
    value: float | None
    message_zh: str
    message_en: str
    raised_at: float
    updated_at: float
    cleared_at: float | None
    occurrences: int
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    cleared_by: str | None = None
    suppressed: str | None = None
    """Why it is not announced: `silenced:<id>`, `inhibited:<alert id>` or `flapping`."""
    escalation: int = 0
    """Steps taken up the responder chain because nobody acknowledged."""
    notified_at: float | None = None
    """When people were last told (raised, escalated or reminded)."""
    exercise: bool = False
    """Raised during a drill (应急演练): every message and CAP document says so."""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass(frozen=True, slots=True)
class AlertEvent:
    alert_id: str
    ts: float
    transition: str
    device_id: str | None = None
    metric: str | None = None
    value: float | None = None
    user: str | None = None
    note: str | None = None
    outcome: str | None = None
    """What a care operator did: called, visited, false_alarm, hospital, no_answer."""


@dataclass(frozen=True, slots=True)
class SilenceRecord:
    id: str
    starts: float
    ends: float
    author: str
    reason: str
    device_id: str | None
    place_id: str | None
    rule_id: str | None
    category: str | None
    created: float
    deleted_at: float | None = None
    deleted_by: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the outbox: a message for one receiver (and person), sent at least once."""

    id: int | None
    key: str
    """Idempotency key: alert, transition and receiver; receivers act on each key once."""
    alert_id: str
    transition: str
    route: str
    receiver: str
    recipient_id: str | None
    speakers: bool
    group_key: str | None
    notification: str
    """The notification as JSON, frozen when the transition happened."""
    state: str
    """pending | sent | failed | fell_back"""
    attempts: int
    not_before: float
    created: float
    sent_at: float | None = None
    detail: str | None = None
    fallback_of: int | None = None


def _alert(row: tuple[Any, ...]) -> AlertRecord:
    return replace(AlertRecord(*row), exercise=bool(row[-1]))


def _delivery(row: tuple[Any, ...]) -> Delivery:
    return replace(Delivery(*row), speakers=bool(row[7]))


_ALERT_COLUMNS = ", ".join(AlertRecord.__dataclass_fields__)
_DELIVERY_COLUMNS = ", ".join(Delivery.__dataclass_fields__)
_EVENT_COLUMNS = ", ".join(AlertEvent.__dataclass_fields__)
_SILENCE_COLUMNS = ", ".join(SilenceRecord.__dataclass_fields__)


class StateDB:
    """One connection shared under a lock: calls come from the event loop and from threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(alert_events)")}
        if "outcome" not in columns:  # a hub.db from before outcomes were recorded
            self._db.execute("ALTER TABLE alert_events ADD COLUMN outcome TEXT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ devices

    def save_devices(self, rows: Sequence[tuple[str, float | None, bool]],
                     chunk: int = DEVICE_ROWS_PER_COMMIT) -> None:
        """Upsert devices' last contact, one statement (a transaction) per chunk of rows.

        The event loop commits alert transitions on this connection; one transaction of a
        whole community's devices held the lock for 50-270 ms under load, and every alert
        raised meanwhile waited that long for its outbox commit.
        """
        for start in range(0, len(rows), chunk):
            payload = orjson.dumps(rows[start:start + chunk])
            with self._lock:
                self._db.execute(_UPSERT_DEVICES, (payload,))

    def load_devices(self) -> dict[str, tuple[float | None, bool]]:
        with self._lock:
            rows = self._db.execute("SELECT id, last_seen, online FROM devices").fetchall()
        return {r[0]: (r[1], bool(r[2])) for r in rows}

    # ------------------------------------------------------------------ alerts

    def save_alert(self, alert: AlertRecord, event: AlertEvent,
                   deliveries: Sequence[Delivery] = ()) -> None:
        """The alert's new state, the transition that led to it and the messages it owes
        people (the outbox), in one transaction: none without the others."""
        values = tuple(getattr(alert, f) for f in AlertRecord.__dataclass_fields__)
        marks = ", ".join("?" for _ in values)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(f"INSERT OR REPLACE INTO alerts({_ALERT_COLUMNS}) "  # noqa: S608
                                 f"VALUES ({marks})", values)
                event_values = tuple(getattr(event, f) for f in AlertEvent.__dataclass_fields__)
                self._db.execute(f"INSERT INTO alert_events({_EVENT_COLUMNS}) "  # noqa: S608
                                 f"VALUES ({', '.join('?' for _ in event_values)})",
                                 event_values)
                self._insert_deliveries(deliveries)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def alerts(self, states: tuple[str, ...] | None = None, limit: int = 500
               ) -> list[AlertRecord]:
        """Newest first; `states` filters on the four lifecycle states."""
        query = f"SELECT {_ALERT_COLUMNS} FROM alerts"  # noqa: S608
        params: tuple[object, ...] = ()
        if states is not None:
            query += f" WHERE state IN ({', '.join('?' for _ in states)})"
            params = states
        query += " ORDER BY raised_at DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit)).fetchall()
        return [_alert(r) for r in rows]

    def alert(self, alert_id: str) -> AlertRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?",  # noqa: S608
                (alert_id,)).fetchone()
        return _alert(row) if row else None

    def alert_events(self, alert_id: str) -> list[AlertEvent]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_EVENT_COLUMNS} FROM alert_events "  # noqa: S608
                "WHERE alert_id = ? ORDER BY ts, rowid", (alert_id,)).fetchall()
        return [AlertEvent(*r) for r in rows]

    # ------------------------------------------------------------------ outbox

    def _insert_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        rows = [tuple(getattr(d, f) for f in Delivery.__dataclass_fields__)[1:]
                for d in deliveries]
        columns = _DELIVERY_COLUMNS.split(", ", 1)[1]
        # OR IGNORE: the same key twice is the same message (idempotent by construction).
        self._db.executemany(f"INSERT OR IGNORE INTO deliveries({columns}) "  # noqa: S608
                             f"VALUES ({', '.join('?' for _ in columns.split(', '))})", rows)

    def add_deliveries(self, deliveries: list[Delivery]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._insert_deliveries(deliveries)
            self._db.execute("COMMIT")

    def due_deliveries(self, now: float, *, receiver: str, limit: int) -> list[Delivery]:
        """A receiver's pending rows due by `now`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries "  # noqa: S608
                "WHERE state = 'pending' AND receiver = ? AND not_before <= ? "
                "ORDER BY not_before, id LIMIT ?", (receiver, now, limit)).fetchall()
        return [_delivery(r) for r in rows]

    def pending_in_group(self, group_key: str) -> list[Delivery]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries "  # noqa: S608
                "WHERE state = 'pending' AND group_key = ? ORDER BY id", (group_key,)).fetchall()
        return [_delivery(r) for r in rows]

    def pending_receivers(self) -> set[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT receiver FROM deliveries WHERE state = 'pending'").fetchall()
        return {r[0] for r in rows}

    def next_due(self, after: float) -> float | None:
        """When the next pending row falls due, of those not due yet at `after`."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(not_before) FROM deliveries WHERE state = 'pending' "
                "AND not_before > ?", (after,)).fetchone()
        return row[0] if row else None

    def update_deliveries(self, ids: list[int], *, state: str, attempts: int,
                          not_before: float, detail: str, sent_at: float | None = None,
                          fallbacks: Sequence[Delivery] = ()) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE deliveries SET state = ?, attempts = ?, not_before = ?, detail = ?, "
                "sent_at = ? WHERE id = ?",
                [(state, attempts, not_before, detail, sent_at, i) for i in ids])
            self._insert_deliveries(fallbacks)
            self._db.execute("COMMIT")

    def deliveries_of(self, alert_id: str) -> list[Delivery]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries "  # noqa: S608
                "WHERE alert_id = ? ORDER BY id", (alert_id,)).fetchall()
        return [_delivery(r) for r in rows]

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            rows = self._db.execute("SELECT receiver, state, COUNT(*) FROM deliveries "
                                    "GROUP BY receiver, state").fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    # ------------------------------------------------------------------ silences

    def save_silence(self, silence: SilenceRecord) -> None:
        values = tuple(getattr(silence, f) for f in SilenceRecord.__dataclass_fields__)
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO silences({_SILENCE_COLUMNS}) "  # noqa: S608
                             f"VALUES ({', '.join('?' for _ in values)})", values)

    def silences(self, *, include_deleted: bool = False) -> list[SilenceRecord]:
        query = f"SELECT {_SILENCE_COLUMNS} FROM silences"  # noqa: S608
        if not include_deleted:
            query += " WHERE deleted_at IS NULL"
        with self._lock:
            rows = self._db.execute(query + " ORDER BY starts").fetchall()
        return [SilenceRecord(*r) for r in rows]

    # ------------------------------------------------------------------ drills

    def start_drill(self, name: str, started: float, by: str) -> int:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO drills(name, started, started_by) VALUES (?, ?, ?)",
                (name, started, by))
        return int(cursor.lastrowid or 0)

    def end_drill(self, drill_id: int, ended: float, by: str) -> None:
        with self._lock:
            self._db.execute("UPDATE drills SET ended = ?, ended_by = ? WHERE id = ?",
                             (ended, by, drill_id))

    def current_drill(self) -> tuple[int, str, float, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, started, started_by FROM drills WHERE ended IS NULL "
                "ORDER BY id DESC LIMIT 1").fetchone()
        return (row[0], row[1], row[2], row[3]) if row else None

    # ------------------------------------------------------------------ engine state

    def save_engine_state(self, saved_at: float, snapshot: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO engine_state(id, saved_at, snapshot) "
                             "VALUES (1, ?, ?)", (saved_at, snapshot))

    def load_engine_state(self) -> tuple[float, str] | None:
        with self._lock:
            row = self._db.execute("SELECT saved_at, snapshot FROM engine_state").fetchone()
        return (row[0], row[1]) if row else None
