"""The command centre's combined alert board: every community's alerts, idempotent.

A community hub publishes each transition with the whole alert (`alert_json`) on
`shouwang/<site>/alerts/<category>/<id>`, QoS 1 over a bridge: the centre may get one twice
(redelivery after a cut link) and, across a reconnect, out of order. So:

- the transition log is keyed by (site, alert id, transition, updated_at): the same
  transition twice is one row, and the page feed hears of it once;
- the alert's state is keyed by (site, alert id) and replaced only by a newer version: newer
  by `updated_at`, then by lifecycle progress (cleared, acknowledged, occurrences,
  escalation), which never goes backwards. A late, older transition is logged, not applied.

State lives in the centre's own SQLite (centre.db): the active alerts are also held in memory
for the page; history is read from the file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

SEVERITIES = ("critical", "major", "minor", "warning", "info")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    site TEXT NOT NULL, id TEXT NOT NULL, severity TEXT NOT NULL, state TEXT NOT NULL,
    active INTEGER NOT NULL, raised_at REAL NOT NULL, updated_at REAL NOT NULL,
    alert TEXT NOT NULL, received REAL NOT NULL,
    escalated_by TEXT, escalated_at REAL, escalation_note TEXT,
    PRIMARY KEY (site, id));
CREATE INDEX IF NOT EXISTS alerts_by_site ON alerts(site, active, raised_at);
CREATE TABLE IF NOT EXISTS transitions (
    site TEXT NOT NULL, alert_id TEXT NOT NULL, transition TEXT NOT NULL,
    updated_at REAL NOT NULL, by_user TEXT, note TEXT, received REAL NOT NULL,
    UNIQUE (site, alert_id, transition, updated_at));
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY, ts REAL NOT NULL, site TEXT NOT NULL, alert_id TEXT NOT NULL,
    action TEXT NOT NULL, user TEXT NOT NULL, note TEXT);
CREATE TABLE IF NOT EXISTS issued (
    id TEXT PRIMARY KEY, sent REAL NOT NULL, by_user TEXT NOT NULL, warning TEXT NOT NULL,
    cancelled_at REAL, cancelled_by TEXT);
"""

Alert = dict[str, Any]
"""An alert as the hub's `alert_json` gives it."""


@dataclass(frozen=True, slots=True)
class Change:
    """One new transition at the centre, for the page feed."""

    site: str
    transition: str
    alert: Alert
    by: str | None
    note: str | None
    applied: bool
    """False when an older transition arrived after a newer one: logged, state kept."""
    received: float


class MalformedError(ValueError):
    """A payload that is not an alert transition; says what is missing."""


def order(alert: Mapping[str, Any]) -> tuple[float, bool, bool, int, int]:
    """Newer sorts higher; the lifecycle parts never go backwards for one alert."""
    state = str(alert["state"])
    return (float(alert["updated_at"]), state.startswith("cleared"), state.endswith("_ack"),
            int(alert.get("occurrences") or 1), int(alert.get("escalation") or 0))


def parse_transition(site: str, payload: bytes) -> tuple[str, Alert, str | None, str | None]:
    """(transition, alert, by, note) of a hub's message; MalformedError when it is not one."""
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("alert"), dict):
        raise MalformedError("no `alert` object")
    if message.get("site") != site:
        raise MalformedError(f"says site {message.get('site')!r} on {site!r}'s topic")
    alert = message["alert"]
    for name, kind in (("id", str), ("state", str), ("severity", str),
                       ("updated_at", float | int), ("raised_at", float | int)):
        if not isinstance(alert.get(name), kind):
            raise MalformedError(f"alert.{name} missing or of the wrong type")
    transition = message.get("transition")
    if not isinstance(transition, str):
        raise MalformedError("no `transition`")
    by, note = message.get("by"), message.get("note")
    return (transition, alert, by if isinstance(by, str) else None,
            note if isinstance(note, str) else None)


class CentreDB:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self._db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        with self.lock:
            self._db.execute(sql, params)

    def close(self) -> None:
        with self.lock:
            self._db.close()


class CentreBoard:
    def __init__(self, db: CentreDB) -> None:
        self._db = db
        self.active: dict[tuple[str, str], Alert] = {}
        for site, text in db.query("SELECT site, alert FROM alerts WHERE active = 1"):
            alert = orjson.loads(text)
            self.active[(site, alert["id"])] = alert
        self.stats: Counter[str] = Counter()

    def apply(self, messages: Sequence[tuple[str, bytes, float]]) -> list[Change]:
        """(site, payload, received) of alert topics, in arrival order; one transaction."""
        changes: list[Change] = []
        updates: dict[tuple[str, str], Alert] = {}
        with self._db.transaction() as db:
            for site, payload, received in messages:
                try:
                    transition, alert, by, note = parse_transition(site, payload)
                except MalformedError as exc:
                    self.stats["malformed"] += 1
                    logger.warning("alert message from %s ignored: %s", site, exc)
                    continue
                key = (site, alert["id"])
                cursor = db.execute(
                    "INSERT OR IGNORE INTO transitions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (site, key[1], transition, alert["updated_at"], by, note, received))
                if cursor.rowcount == 0:
                    self.stats["duplicates"] += 1
                    continue
                current = updates.get(key) or self.active.get(key) or self._stored(db, key)
                applied = current is None or order(alert) > order(current)
                if applied:
                    updates[key] = alert
                    active = bool(alert.get("active", str(alert["state"]).startswith("active")))
                    db.execute(
                        "INSERT INTO alerts(site, id, severity, state, active, raised_at, "
                        "updated_at, alert, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT(site, id) DO UPDATE SET severity = excluded.severity, "
                        "state = excluded.state, active = excluded.active, "
                        "updated_at = excluded.updated_at, alert = excluded.alert, "
                        "received = excluded.received",
                        (site, key[1], alert["severity"], alert["state"], int(active),
                         alert["raised_at"], alert["updated_at"], orjson.dumps(alert).decode(),
                         received))
                    self.stats["applied"] += 1
                else:
                    self.stats["stale"] += 1
                changes.append(Change(site, transition, alert, by, note, applied, received))
        for key, alert in updates.items():
            if str(alert["state"]).startswith("active"):
                self.active[key] = alert
            else:
                self.active.pop(key, None)
        return changes

    def _stored(self, db: sqlite3.Connection, key: tuple[str, str]) -> Alert | None:
        row = db.execute("SELECT alert FROM alerts WHERE site = ? AND id = ?", key).fetchone()
        return orjson.loads(row[0]) if row else None

    # ------------------------------------------------------------------ reading

    def alert(self, site: str, alert_id: str) -> Alert | None:
        rows = self._db.query("SELECT alert, escalated_by, escalated_at, escalation_note "
                              "FROM alerts WHERE site = ? AND id = ?", (site, alert_id))
        return _with_escalation(rows[0]) if rows else None

    def alerts(self, site: str, *, active_only: bool, limit: int = 500) -> list[Alert]:
        """Most severe first, then newest."""
        rows = self._db.query(
            "SELECT alert, escalated_by, escalated_at, escalation_note FROM alerts "
            "WHERE site = ? AND active >= ? ORDER BY raised_at DESC LIMIT ?",
            (site, int(active_only), limit))
        alerts = [_with_escalation(r) for r in rows]
        if active_only:
            alerts.sort(key=lambda a: _RANK.get(a["severity"], 9))
        return alerts

    def transitions(self, site: str, alert_id: str) -> list[dict[str, Any]]:
        rows = self._db.query(
            "SELECT transition, updated_at, by_user, note, received FROM transitions "
            "WHERE site = ? AND alert_id = ? ORDER BY updated_at, rowid", (site, alert_id))
        return [{"transition": r[0], "ts": r[1], "by": r[2], "note": r[3], "received": r[4]}
                for r in rows]

    def counts(self) -> dict[str, dict[str, int]]:
        """Active alerts of each site by severity, and `unacknowledged`."""
        out: dict[str, dict[str, int]] = {}
        for (site, _), alert in self.active.items():
            counts = out.setdefault(site, dict.fromkeys((*SEVERITIES, "unacknowledged"), 0))
            counts[alert["severity"]] = counts.get(alert["severity"], 0) + 1
            if alert["state"] == "active_unack":
                counts["unacknowledged"] += 1
        return out

    def escalate(self, site: str, alert_id: str, by: str, note: str | None, now: float
                 ) -> Change:
        """The centre takes an alert up a level: recorded here, with who and why."""
        alert = self.alert(site, alert_id)
        if alert is None:
            raise KeyError(alert_id)
        with self._db.transaction() as db:
            db.execute("UPDATE alerts SET escalated_by = ?, escalated_at = ?, "
                       "escalation_note = ? WHERE site = ? AND id = ?",
                       (by, now, note, site, alert_id))
            db.execute("INSERT OR IGNORE INTO transitions VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (site, alert_id, "escalated_by_centre", now, by, note, now))
        alert.update(centre_escalated_by=by, centre_escalated_at=now)
        return Change(site, "escalated_by_centre", alert, by, note, True, now)


def _with_escalation(row: tuple[Any, ...]) -> Alert:
    alert: Alert = orjson.loads(row[0])
    if row[1] is not None:
        alert.update(centre_escalated_by=row[1], centre_escalated_at=row[2],
                     centre_escalation_note=row[3])
    return alert
