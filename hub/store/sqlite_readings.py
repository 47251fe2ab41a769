"""Readings in one SQLite file, kept as per-series chunks plus an append-only log.

Why this shape: a row per reading with an index on (device, metric, ts) puts every insert at a
random place in the index, and ingest falls from ~150k to ~40k rows/s as the table grows.
Here an insert is an append to `log` (no index at all); each series collects its points in
memory and seals them into one `chunks` row per `chunk_points` readings (or after
`max_chunk_age_s`). The log is what makes the open, in-memory tail durable: on open it is
replayed, and its head is deleted once every point in it lives in a chunk.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hub.store.base import ReadingTuple

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    sealed_id INTEGER NOT NULL,      -- log rows of this series up to this id are in chunks
    sealed_points INTEGER NOT NULL,
    max_span_ms INTEGER NOT NULL,    -- widest chunk: a chunk ending after t starts after t - this
    UNIQUE (device_id, metric)
);
CREATE TABLE IF NOT EXISTS chunks (
    series_id INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,            -- log id of the first point: late points repeat start_ms
    end_ms INTEGER NOT NULL,
    n INTEGER NOT NULL,
    ts BLOB NOT NULL,                -- int64 epoch ms, ascending
    vals BLOB NOT NULL,              -- float64, in ts order
    PRIMARY KEY (series_id, start_ms, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY,          -- assigned by us, never reused: sealed_id relies on it
    series_id INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    value REAL NOT NULL
);
"""
_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",  # survives a killed process; a power cut may lose the tail
    "PRAGMA cache_size = -65536",  # 64 MiB
    "PRAGMA temp_store = MEMORY",
)
_SELECT_UNSEALED = (
    "SELECT log.* FROM log JOIN series ON series.id = log.series_id"
    " WHERE log.id > series.sealed_id ORDER BY log.id"
)
_UPDATE_SEALED = (
    "UPDATE series SET sealed_id = ?, sealed_points = sealed_points + ?,"
    " max_span_ms = MAX(max_span_ms, ?) WHERE id = ?"
)
_SELECT_CHUNKS = (
    "SELECT seq, start_ms, ts, vals FROM chunks"
    " WHERE series_id = ? AND start_ms BETWEEN ? AND ? AND end_ms >= ? ORDER BY start_ms"
)

_LogRow = tuple[int, int, int, float]  # id, series_id, ts_ms, value
_TRIM_MIN_ROWS = 10_000
Int64s = npt.NDArray[np.int64]
Float64s = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _OpenBuffer:
    """Points of one series not yet sealed, in arrival order. The arrays grow in place."""

    first_id: int  # log id of the first point: the watermark for trimming, the chunk's seq
    opened_at: float  # time.monotonic()
    ts: array[int] = field(default_factory=lambda: array("q"))
    vals: array[float] = field(default_factory=lambda: array("d"))

    def extend(self, rows: list[_LogRow]) -> None:
        for _, _, ts_ms, value in rows:
            self.ts.append(ts_ms)
            self.vals.append(value)


@dataclass(slots=True)
class _WritePlan:
    """Everything one write() changes: rows for the transaction, then the in-memory state."""

    next_id: int
    new_series: dict[tuple[str, str], int] = field(default_factory=dict)
    log_rows: list[_LogRow] = field(default_factory=list)
    chunk_rows: list[tuple[int, int, int, int, int, bytes, bytes]] = field(default_factory=list)
    sealed: list[tuple[int, int, int, int]] = field(default_factory=list)  # see _UPDATE_SEALED
    grown: list[tuple[_OpenBuffer, list[_LogRow]]] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)  # series whose open buffer was sealed
    opened: list[tuple[int, _OpenBuffer]] = field(default_factory=list)


def _to_ms(ts: float) -> int:
    return round(ts * 1000)


def _chunk_row(
    series_id: int, seq: int, ts: Int64s, vals: Float64s
) -> tuple[int, int, int, int, int, bytes, bytes]:
    order = np.argsort(ts, kind="stable")
    ts, vals = ts[order], vals[order]
    return (series_id, int(ts[0]), seq, int(ts[-1]), len(ts), ts.tobytes(), vals.tobytes())


def _inside(
    ts_buffer: bytes | array[int], vals_buffer: bytes | array[float], start_ms: int, end_ms: int
) -> tuple[Int64s, Float64s]:
    """Decode packed points and keep those in [start_ms, end_ms]."""
    ts = np.frombuffer(ts_buffer, np.int64)
    inside = (ts >= start_ms) & (ts <= end_ms)
    return ts[inside], np.frombuffer(vals_buffer, np.float64)[inside]


def _kth_smallest(parts: list[tuple[Int64s, Float64s]], k: int) -> int:
    return int(np.partition(np.concatenate([part[0] for part in parts]), k - 1)[k - 1])


class SqliteReadingStore:
    """ReadingStore on one SQLite file; write() from one thread, query() from any.

    A query running alongside write() sees every earlier write and possibly part of that one
    (committed readings only), never a reading twice.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        chunk_points: int = 256,
        max_chunk_age_s: float = 600.0,
    ) -> None:
        self._path = str(path)
        self._chunk_points = chunk_points
        self._max_age = max_chunk_age_s
        self._lock = threading.Lock()  # guards the in-memory state below and self._readers
        self._series: dict[tuple[str, str], int] = {}
        self._metrics: dict[str, list[str]] = {}
        self._max_span: dict[int, int] = {}  # series id -> widest sealed chunk, in ms
        self._open: dict[int, _OpenBuffer] = {}  # insertion order == first_id order
        self._count = 0
        self._readers: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._closed = False
        self._db = self._connect()
        try:
            self._db.executescript(_SCHEMA)
            self._next_id, self._next_series_id, self._log_head = self._load()
        except BaseException:
            self._db.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode with explicit BEGIN; shared across threads by design, closed by close().
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        for pragma in _PRAGMAS:
            db.execute(pragma)
        return db

    def _load(self) -> tuple[int, int, int]:
        """Read the series, replay the log into open buffers; return next ids and log head."""
        last_sealed = last_series = 0
        rows = self._db.execute("SELECT * FROM series")
        for series_id, device_id, metric, sealed_id, sealed_points, max_span_ms in rows:
            self._series[device_id, metric] = series_id
            self._metrics.setdefault(device_id, []).append(metric)
            self._max_span[series_id] = max_span_ms
            self._count += sealed_points
            last_sealed, last_series = max(last_sealed, sealed_id), max(last_series, series_id)
        now = time.monotonic()
        replayed = 0
        for log_id, series_id, ts_ms, value in self._db.execute(_SELECT_UNSEALED):
            buffer = self._open.get(series_id)
            if buffer is None:
                buffer = self._open[series_id] = _OpenBuffer(log_id, now)
            buffer.ts.append(ts_ms)
            buffer.vals.append(value)
            replayed += 1
        self._count += replayed
        if replayed:
            logger.info("Replayed %d unsealed readings from the log of %s", replayed, self._path)
        head, last_logged = self._db.execute("SELECT MIN(id), MAX(id) FROM log").fetchone()
        next_id = max(last_logged or 0, last_sealed) + 1
        return next_id, last_series + 1, head or next_id

    def write(self, readings: Sequence[ReadingTuple]) -> None:
        if not readings:
            return
        now = time.monotonic()
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            # Every log row below the oldest open buffer's first point is in a chunk. Delete a
            # bounded slice per write, so that a burst of seals does not stall one write.
            oldest = next(iter(self._open.values()), None)
            watermark = oldest.first_id if oldest else self._next_id
            trim_to = min(watermark, self._log_head + max(2 * len(readings), _TRIM_MIN_ROWS))
            db.execute("DELETE FROM log WHERE id < ?", (trim_to,))
            plan = self._plan(readings, now)
            db.executemany(
                "INSERT INTO series VALUES (?, ?, ?, 0, 0, 0)",
                [(sid, device, metric) for (device, metric), sid in plan.new_series.items()],
            )
            db.executemany("INSERT INTO log VALUES (?, ?, ?, ?)", plan.log_rows)
            db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)", plan.chunk_rows)
            db.executemany(_UPDATE_SEALED, plan.sealed)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise  # memory was not touched: the caller may retry the same readings
        self._log_head = max(self._log_head, trim_to)
        self._apply(plan, len(readings))

    def _plan(self, readings: Sequence[ReadingTuple], now: float) -> _WritePlan:
        plan = _WritePlan(next_id=self._next_id)
        series, new_series, log_rows = self._series, plan.new_series, plan.log_rows
        arrivals: dict[int, list[_LogRow]] = {}  # per series, in arrival order
        log_id = self._next_id
        for device_id, metric, ts, value in readings:
            key = (device_id, metric)
            series_id = series.get(key) or new_series.get(key)
            if series_id is None:
                series_id = new_series[key] = self._next_series_id + len(new_series)
            row = (log_id, series_id, round(ts * 1000), value)
            log_rows.append(row)
            arrived = arrivals.get(series_id)
            if arrived is None:
                arrivals[series_id] = [row]
            else:
                arrived.append(row)
            log_id += 1
        plan.next_id = log_id

        aged: set[int] = set()
        for series_id, oldest in self._open.items():  # oldest first
            if now - oldest.opened_at < self._max_age:
                break
            aged.add(series_id)
            arrivals.setdefault(series_id, [])
        for series_id, rows in arrivals.items():
            buffer = self._open.get(series_id)
            held = len(buffer.ts) if buffer is not None else 0
            if series_id in aged or held + len(rows) >= self._chunk_points:
                keep_tail = series_id not in aged
                self._plan_seal(plan, series_id, buffer, rows, now, keep_tail=keep_tail)
            elif buffer is None:
                fresh = _OpenBuffer(rows[0][0], now)
                fresh.extend(rows)
                plan.opened.append((series_id, fresh))
            else:
                plan.grown.append((buffer, rows))
        return plan

    def _plan_seal(
        self,
        plan: _WritePlan,
        series_id: int,
        buffer: _OpenBuffer | None,
        rows: list[_LogRow],
        now: float,
        *,
        keep_tail: bool,
    ) -> None:
        """Seal the open buffer plus new rows into chunks of chunk_points, in arrival order."""
        if buffer is not None:
            plan.closed.append(series_id)
        buffer = buffer or _OpenBuffer(rows[0][0], now)
        held, size = len(buffer.ts), self._chunk_points
        new_ts = np.array([row[2] for row in rows], np.int64)
        new_vals = np.array([row[3] for row in rows], np.float64)
        ts = np.concatenate((np.frombuffer(buffer.ts, np.int64), new_ts))
        vals = np.concatenate((np.frombuffer(buffer.vals, np.float64), new_vals))
        sealed_id, sealed_points, span = plan.next_id - 1, 0, 0  # unless a tail stays: all
        for start, end in pairwise([0, *range(max(held, size), len(ts), size), len(ts)]):
            first_id = rows[start - held][0] if start >= held else buffer.first_id
            if keep_tail and end - start < size:
                tail = _OpenBuffer(first_id, now)
                tail.extend(rows[start - held :])
                plan.opened.append((series_id, tail))
                sealed_id = first_id - 1
                break
            chunk = _chunk_row(series_id, first_id, ts[start:end], vals[start:end])
            plan.chunk_rows.append(chunk)
            sealed_points += end - start
            span = max(span, chunk[3] - chunk[1])
        plan.sealed.append((sealed_id, sealed_points, span, series_id))

    def _apply(self, plan: _WritePlan, written: int) -> None:
        """Make a committed write visible to query(); cheap, since readers wait for the lock."""
        opened = sorted(plan.opened, key=lambda pair: pair[1].first_id)
        with self._lock:
            for (device_id, metric), series_id in plan.new_series.items():
                self._series[device_id, metric] = series_id
                self._metrics.setdefault(device_id, []).append(metric)
            for buffer, rows in plan.grown:
                buffer.extend(rows)
            for series_id in plan.closed:
                del self._open[series_id]
            for _, _, span, series_id in plan.sealed:
                self._max_span[series_id] = max(self._max_span.get(series_id, 0), span)
            self._open.update(opened)
            self._count += written
        self._next_id = plan.next_id
        self._next_series_id += len(plan.new_series)

    def query(
        self, device_id: str, metric: str, start: float, end: float, limit: int = 10_000
    ) -> list[tuple[float, float]]:
        start_ms, end_ms = _to_ms(start), _to_ms(end)
        open_seq, open_ts, open_vals = -1, array("q"), array("d")
        with self._lock:
            series_id = self._series.get((device_id, metric))
            max_span = self._max_span.get(series_id, 0) if series_id is not None else 0
            buffer = self._open.get(series_id) if series_id is not None else None
            if buffer is not None:
                open_seq, open_ts, open_vals = buffer.first_id, buffer.ts[:], buffer.vals[:]
        if series_id is None or limit <= 0:
            return []
        # Part 0 is the open buffer as copied. If a chunk with its seq shows up, the buffer was
        # sealed between the copy and the SELECT: the chunk holds all of it, so drop the copy.
        parts = [_inside(open_ts, open_vals, start_ms, end_ms)]
        held = len(parts[0][0])
        bounds = (series_id, start_ms - max_span, end_ms, start_ms)
        rows = self._reader().execute(_SELECT_CHUNKS, bounds)
        for seq, chunk_start, ts_blob, vals_blob in rows:
            if seq == open_seq:
                held -= len(parts[0][0])
                parts[0] = parts[0][0][:0], parts[0][1][:0]
            if held >= limit and chunk_start > _kth_smallest(parts, limit):
                break  # this chunk and every later one start after the first `limit` points
            parts.append(_inside(ts_blob, vals_blob, start_ms, end_ms))
            held += len(parts[-1][0])
        ts = np.concatenate([part[0] for part in parts])
        vals = np.concatenate([part[1] for part in parts])
        order = np.argsort(ts, kind="stable")[:limit]
        return list(zip((ts[order] / 1000).tolist(), vals[order].tolist(), strict=True))

    def _reader(self) -> sqlite3.Connection:
        reader: sqlite3.Connection | None = getattr(self._local, "reader", None)
        if reader is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"reading store {self._path} is closed")
                reader = self._connect()
                self._readers.append(reader)
            self._local.reader = reader
        return reader

    def metrics_of(self, device_id: str) -> list[str]:
        with self._lock:
            return sorted(self._metrics.get(device_id, ()))

    def count(self) -> int:
        with self._lock:
            return self._count

    def close(self) -> None:
        with self._lock:
            self._closed = True
            readers, self._readers = self._readers, []
        for reader in readers:
            reader.close()
        self._db.close()
