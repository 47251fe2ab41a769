"""Readings in one SQLite file, kept as per-series chunks plus an append-only log.

Why this shape: a row per reading with an index on (device, metric, ts) puts every insert at a
random place in the index, and ingest falls from ~150k to ~40k rows/s as the table grows.
Here an insert is an append to `log` (no index at all); each series collects its points in
memory and seals them into one `chunks` row per `chunk_points` readings (or after
`max_chunk_age_s`). The log is what makes the open, in-memory tail durable: on open it is
replayed, and its head is deleted once every point in it lives in a chunk.

Roll-ups (min, max, sum, count per series and bucket) are written in the same transaction that
seals a chunk, so they hold exactly the sealed points: replaying the log after a crash only
rebuilds open buffers, which are in no bucket. Open buffers are folded in at query time.
`rollup_1m` keeps one row per sealed chunk with that chunk's minute buckets packed (sensors
that report once a minute or less have one point per minute: a merged row per minute would
cost an upsert per reading); buckets of one minute split over several chunks (late points)
merge at query time. `rollup_1h` keeps one merged row per series and hour (an upsert that
takes the min of mins, the max of maxes and adds sums and counts). query_aggregate() answers
each part of a range from the coarsest level whose bucket divides the window.

Retention: prune() deletes sealed chunks and roll-ups older than their retention, by index
range per series, and first records how far each level is pruned (`horizons`), so queries
over older ranges answer from the roll-ups that are left. It never touches the log or open
buffers. docs/storage.md has the details.

The write path keeps per-reading Python objects short-lived (numpy grouping, lazy rows into
executemany): containers that outlive a write would be promoted and trigger full collections
of the cyclic GC, which in a busy hub cost more than the write itself.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from operator import itemgetter
from pathlib import Path

import numpy as np
import orjson

from hub.store.base import ReadingTuple
from hub.store.levels import (
    FAR_MS,
    HOUR,
    LEVEL_MS,
    MINUTE,
    MINUTE_BUCKET,
    RAW,
    Buckets,
    Float64s,
    HourRow,
    Int64s,
    MinuteRow,
    Piece,
    buckets_of_hours,
    plan_aggregate,
    rollups,
)

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
CREATE TABLE IF NOT EXISTS rollup_1m (  -- the minute buckets of one sealed chunk
    series_id INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,       -- first bucket's start
    seq INTEGER NOT NULL,            -- the chunk's seq
    end_ms INTEGER NOT NULL,         -- last bucket's start
    points INTEGER NOT NULL,
    buckets INTEGER NOT NULL,
    data BLOB NOT NULL,              -- MINUTE_BUCKET records, ascending by start
    PRIMARY KEY (series_id, start_ms, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_1h (
    series_id INTEGER NOT NULL,
    bucket_ms INTEGER NOT NULL,      -- start of the hour
    min_value REAL NOT NULL,
    max_value REAL NOT NULL,
    sum_value REAL NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS horizons (
    level INTEGER PRIMARY KEY,       -- 0 raw chunks, 1 rollup_1m, 2 rollup_1h
    before_ms INTEGER NOT NULL       -- this level may lack data before this instant (pruned)
);
"""
_SCHEMA_VERSION = 1  # PRAGMA user_version: 1 = the roll-ups hold every sealed chunk
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
_INSERT_LOG = (
    # A whole write's log rows in one statement, as a JSON array of [series, ts, value] (ids
    # run on from the first): sqlite3 lets go of the GIL around every step, and under busy
    # ingest each step then waited up to a switch interval to get it back — a row per step
    # made the writer thread hand the GIL to and fro some 50,000 times a second.
    "INSERT INTO log SELECT ? + key, value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)"
)
_UPDATE_SEALED = (
    # All of a write's seals in one statement, as a JSON array of [sealed_id, points, span,
    # series id] (one step per series used to hand the GIL over 20,000 times in a seal wave).
    "UPDATE series SET sealed_id = u.sealed_id, sealed_points = sealed_points + u.points,"
    " max_span_ms = MAX(max_span_ms, u.span)"
    " FROM (SELECT value ->> 0 AS sealed_id, value ->> 1 AS points, value ->> 2 AS span,"
    " value ->> 3 AS id FROM json_each(?)) AS u WHERE series.id = u.id"
)
_SELECT_CHUNKS = (
    "SELECT seq, start_ms, ts, vals FROM chunks"
    " WHERE series_id = ? AND start_ms BETWEEN ? AND ? AND end_ms >= ? ORDER BY start_ms"
)
_SELECT_MINUTES = (
    "SELECT data FROM rollup_1m WHERE series_id = ? AND start_ms BETWEEN ? AND ? AND end_ms >= ?"
)
_SELECT_HOURS = (
    "SELECT bucket_ms, min_value, max_value, sum_value, n FROM rollup_1h"
    " WHERE series_id = ? AND bucket_ms >= ? AND bucket_ms < ?"
)
_UPSERT_HOUR = (
    " ON CONFLICT (series_id, bucket_ms)"
    " DO UPDATE SET min_value = MIN(min_value, excluded.min_value),"
    " max_value = MAX(max_value, excluded.max_value),"
    " sum_value = sum_value + excluded.sum_value, n = n + excluded.n"
)

_ChunkRow = tuple[int, int, int, int, int, bytes, bytes]
_TRIM_MIN_ROWS = 10_000
_ROWS_PER_INSERT = 100
_OVERDUE_CHUNKS = 4
"""An open buffer past this many chunks' worth of points seals even over the budget."""
_BACKFILL_CHUNKS = 2_000
_PRUNE_SERIES_PER_TRANSACTION = 1_000
_SERIES_KEY, _TS, _VALUE = itemgetter(0, 1), itemgetter(2), itemgetter(3)
_DAY_S = 86_400.0
_MAX_TS_S = 9e15  # epoch ms must fit in int64


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each level is kept, in seconds; finer levels must not outlive coarser ones."""

    raw_s: float = 30 * _DAY_S
    minute_s: float = 180 * _DAY_S
    hour_s: float = 5 * 365 * _DAY_S

    def __post_init__(self) -> None:
        if not 0 < self.raw_s <= self.minute_s <= self.hour_s:
            raise ValueError(
                f"retention must be positive and raw ({self.raw_s:g} s) <= minute "
                f"({self.minute_s:g} s) <= hour ({self.hour_s:g} s)"
            )


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one prune() deleted."""

    chunks: int
    readings: int  # raw readings in those chunks
    minute_buckets: int
    hour_buckets: int


# ------------------------------------------------------------------ the write path


@dataclass(frozen=True, slots=True)
class _OpenBuffer:
    """Points of one series not yet sealed, in arrival order. The arrays grow in place."""

    first_id: int  # log id of the first point: the watermark for trimming, the chunk's seq
    opened_at: float  # time.monotonic()
    ts: array[int] = field(default_factory=lambda: array("q"))
    vals: array[float] = field(default_factory=lambda: array("d"))

    def extend(self, ts: bytes, vals: bytes) -> None:
        """Append packed int64 ms and float64 values."""
        self.ts.frombytes(ts)
        self.vals.frombytes(vals)


@dataclass(slots=True)
class _Arrivals:
    """One write's readings, grouped by series (stable: arrival order within a series)."""

    series: list[int]  # per group
    bounds: list[int]  # group i is [bounds[i], bounds[i + 1])
    ids: Int64s  # log ids, grouped
    ts: Int64s
    vals: Float64s
    ts_packed: bytes  # ts and vals as bytes, to extend open buffers without numpy per series
    vals_packed: bytes


@dataclass(slots=True)
class _WritePlan:
    """Everything one write() changes: rows for the transaction, then the in-memory state."""

    next_id: int
    new_series: dict[tuple[str, str], int] = field(default_factory=dict)
    log_columns: tuple[list[int], list[int], list[int], list[float]] = ([], [], [], [])
    finite: bool = True
    """Every value is a finite number (JSON can carry them all)."""
    chunk_rows: list[_ChunkRow] = field(default_factory=list)
    sealed_chunks: list[tuple[int, int, Int64s, Float64s]] = field(default_factory=list)
    minute_rows: list[MinuteRow] = field(default_factory=list)
    hour_rows: list[HourRow] = field(default_factory=list)
    sealed: list[tuple[int, int, int, int]] = field(default_factory=list)  # see _UPDATE_SEALED
    grown: list[_OpenBuffer] = field(default_factory=list)
    grown_groups: list[int] = field(default_factory=list)  # the arrivals group of each
    arrivals: _Arrivals | None = None
    closed: list[int] = field(default_factory=list)  # series whose open buffer was sealed
    opened: list[tuple[int, _OpenBuffer]] = field(default_factory=list)

    def log_rows(self) -> Iterator[tuple[int, int, int, float]]:
        return zip(*self.log_columns, strict=True)


def _to_ms(ts: float) -> int:
    return round(ts * 1000)


def _insert_rows(db: sqlite3.Connection, insert: str, rows: Sequence[tuple[object, ...]],
                 suffix: str = "") -> None:
    """`insert` VALUES (...), (...), ... `suffix`: as many rows per statement as SQLite takes
    parameters. sqlite3 lets go of the GIL around every step, and executemany takes one step
    per row: in a seal wave that was some 80,000 hand-overs, each waiting up to a switch
    interval while the event loop held the GIL. Blobs rule out json_each here (no unhex()
    before SQLite 3.41)."""
    if not rows:
        return
    width = len(rows[0])
    # Measured: 100 rows a statement beat both executemany and the parameter limit (a huge
    # statement is slow to prepare, and the cache holds the 100-row one).
    per = min(_ROWS_PER_INSERT, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width)
    row = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), per):
        part = rows[start:start + per]
        db.execute(f"{insert} VALUES {', '.join([row] * len(part))}{suffix}",
                   [value for values in part for value in values])


def _chunk_row(
    series_id: int, seq: int, ts: Int64s, vals: Float64s
) -> tuple[_ChunkRow, Int64s, Float64s]:
    """The chunks row, and its points sorted by ts."""
    order = np.argsort(ts, kind="stable")
    ts, vals = ts[order], vals[order]
    row = (series_id, int(ts[0]), seq, int(ts[-1]), len(ts), ts.tobytes(), vals.tobytes())
    return row, ts, vals


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
    (committed readings only), never a reading twice. prune() may run in any thread, alongside
    both; the hub calls it hourly.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        chunk_points: int = 256,
        max_chunk_age_s: float = 600.0,
        retention: Retention | None = None,
        max_seals_per_write: int = 128,
    ) -> None:
        self._path = str(path)
        self._chunk_points = chunk_points
        self._seal_budget = max_seals_per_write
        self._max_age = max_chunk_age_s
        self._retention = retention or Retention()
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
            self._migrate()
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

    def _migrate(self) -> None:
        """Build the roll-ups of a file written before they existed: every sealed chunk, once."""
        db = self._db
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version >= _SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")  # all or nothing: a half-done backfill would count twice
        try:
            chunks = 0
            db.execute("DELETE FROM rollup_1m")
            db.execute("DELETE FROM rollup_1h")
            rows = db.execute("SELECT series_id, seq, ts, vals FROM chunks").fetchmany
            while batch := rows(_BACKFILL_CHUNKS):
                minute_rows, hour_rows = rollups(
                    [(series_id, seq, np.frombuffer(ts, np.int64), np.frombuffer(vals))
                     for series_id, seq, ts, vals in batch])
                _insert_rows(db, "INSERT INTO rollup_1m", minute_rows)
                _insert_rows(db, "INSERT INTO rollup_1h", hour_rows, _UPSERT_HOUR)
                chunks += len(batch)
            db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if chunks:
            logger.info("Built the roll-ups of %d chunks in %s", chunks, self._path)

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
            if plan.finite:
                ids, series, ts, vals = plan.log_columns
                rows = orjson.dumps(list(zip(series, ts, vals, strict=True)))
                db.execute(_INSERT_LOG, (ids[0], rows))
            else:  # JSON has no inf: the rare batch holding one goes row by row
                db.executemany("INSERT INTO log VALUES (?, ?, ?, ?)", plan.log_rows())
            _insert_rows(db, "INSERT INTO chunks", plan.chunk_rows)
            _insert_rows(db, "INSERT INTO rollup_1m", plan.minute_rows)
            _insert_rows(db, "INSERT INTO rollup_1h", plan.hour_rows, _UPSERT_HOUR)
            if plan.sealed:
                db.execute(_UPDATE_SEALED, (orjson.dumps(plan.sealed),))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise  # memory was not touched: the caller may retry the same readings
        self._log_head = max(self._log_head, trim_to)
        self._apply(plan, len(readings))

    def _series_ids(self, readings: Sequence[ReadingTuple], plan: _WritePlan) -> list[int]:
        """The series id of each reading; new series get ids in plan.new_series."""
        ids: list[int | None] = list(map(self._series.get, map(_SERIES_KEY, readings)))
        if None in ids:
            new_series = plan.new_series
            for i, series_id in enumerate(ids):
                if series_id is None:
                    key: tuple[str, str] = _SERIES_KEY(readings[i])
                    if (assigned := new_series.get(key)) is None:
                        assigned = new_series[key] = self._next_series_id + len(new_series)
                    ids[i] = assigned
        return ids  # type: ignore[return-value]  # no None left

    def _plan(self, readings: Sequence[ReadingTuple], now: float) -> _WritePlan:
        count, first_id = len(readings), self._next_id
        plan = _WritePlan(next_id=first_id + count)
        series = self._series_ids(readings, plan)
        seconds = np.fromiter(map(_TS, readings), np.float64, count)  # None becomes NaN
        valid = np.abs(seconds) < _MAX_TS_S
        if not valid.all():
            bad = readings[int(np.argmin(valid))]
            raise ValueError(f"reading {bad!r}: the timestamp must be a finite number of "
                             "epoch seconds")
        ts = np.rint(seconds * 1000).astype(np.int64)  # rounds like round(): half to even
        vals = np.fromiter(map(_VALUE, readings), np.float64, count)
        plan.finite = bool(np.isfinite(vals).all())
        plan.log_columns = (list(range(first_id, first_id + count)), series, ts.tolist(),
                            vals.tolist())
        by_series = np.array(series, np.int64)
        order = np.argsort(by_series, kind="stable")
        by_series = by_series[order]
        heads = np.flatnonzero(np.concatenate(([True], by_series[1:] != by_series[:-1])))
        grouped_ts, grouped_vals = ts[order], vals[order]
        arrivals = plan.arrivals = _Arrivals(
            by_series[heads].tolist(), [*heads.tolist(), count], order + first_id,
            grouped_ts, grouped_vals, grouped_ts.tobytes(), grouped_vals.tobytes())

        aged: set[int] = set()
        for series_id, oldest in self._open.items():  # oldest first
            if now - oldest.opened_at < self._max_age:
                break
            aged.add(series_id)
        # Series that report at one rate fill their chunks at the same moment: thousands
        # would seal in one write, holding the GIL for most of a second (measured: a 796 ms
        # write, and alerts 200 ms late). A budget spreads the wave over the next writes;
        # a buffer over `overdue` points seals whatever the budget says.
        bounds, size, budget = arrivals.bounds, self._chunk_points, self._seal_budget
        overdue = _OVERDUE_CHUNKS * size
        for group, series_id in enumerate(arrivals.series):
            buffer = self._open.get(series_id)
            held = len(buffer.ts) if buffer is not None else 0
            start, end = bounds[group], bounds[group + 1]
            due = series_id in aged or held + end - start >= size
            if due and (budget > 0 or held + end - start >= overdue or buffer is None):
                budget -= 1
                self._plan_seal(plan, series_id, buffer, start, end, now,
                                keep_tail=series_id not in aged)
                aged.discard(series_id)
            elif buffer is None:
                fresh = _OpenBuffer(int(arrivals.ids[start]), now)
                fresh.extend(arrivals.ts_packed[8 * start:8 * end],
                             arrivals.vals_packed[8 * start:8 * end])
                plan.opened.append((series_id, fresh))
            else:
                plan.grown.append(buffer)
                plan.grown_groups.append(group)
        for series_id in aged:  # old buffers that got nothing new: sealed as they are
            if budget <= 0:
                break  # still the oldest: first in line next write
            budget -= 1
            self._plan_seal(plan, series_id, self._open[series_id], 0, 0, now, keep_tail=False)
        if plan.sealed_chunks:
            plan.minute_rows, plan.hour_rows = rollups(plan.sealed_chunks)
        return plan

    def _plan_seal(
        self,
        plan: _WritePlan,
        series_id: int,
        buffer: _OpenBuffer | None,
        start: int,
        end: int,
        now: float,
        *,
        keep_tail: bool,
    ) -> None:
        """Seal the open buffer plus arrivals [start, end) into chunks of chunk_points, in
        arrival order; a short tail stays open when keep_tail."""
        arrivals = plan.arrivals
        assert arrivals is not None
        ids = arrivals.ids[start:end]
        new_ts, new_vals = arrivals.ts[start:end], arrivals.vals[start:end]
        if buffer is not None:
            plan.closed.append(series_id)
        else:
            buffer = _OpenBuffer(int(ids[0]), now)
        held, size = len(buffer.ts), self._chunk_points
        ts = np.concatenate((np.frombuffer(buffer.ts, np.int64), new_ts))
        vals = np.concatenate((np.frombuffer(buffer.vals, np.float64), new_vals))
        sealed_id, sealed_points, span = plan.next_id - 1, 0, 0  # unless a tail stays: all
        for first, last in pairwise([0, *range(max(held, size), len(ts), size), len(ts)]):
            seq = int(ids[first - held]) if first >= held else buffer.first_id
            if keep_tail and last - first < size:
                tail = _OpenBuffer(seq, now)
                tail.extend(new_ts[first - held:].tobytes(), new_vals[first - held:].tobytes())
                plan.opened.append((series_id, tail))
                sealed_id = seq - 1
                break
            chunk, sorted_ts, sorted_vals = _chunk_row(series_id, seq, ts[first:last],
                                                       vals[first:last])
            plan.chunk_rows.append(chunk)
            plan.sealed_chunks.append((series_id, seq, sorted_ts, sorted_vals))
            sealed_points += last - first
            span = max(span, chunk[3] - chunk[1])
        plan.sealed.append((sealed_id, sealed_points, span, series_id))

    def _apply(self, plan: _WritePlan, written: int) -> None:
        """Make a committed write visible to query(); cheap, since readers wait for the lock."""
        opened = sorted(plan.opened, key=lambda pair: pair[1].first_id)
        arrivals = plan.arrivals
        assert arrivals is not None
        bounds, ts, vals = arrivals.bounds, arrivals.ts_packed, arrivals.vals_packed
        with self._lock:
            for (device_id, metric), series_id in plan.new_series.items():
                self._series[device_id, metric] = series_id
                self._metrics.setdefault(device_id, []).append(metric)
            for buffer, group in zip(plan.grown, plan.grown_groups, strict=True):
                start, end = 8 * bounds[group], 8 * bounds[group + 1]
                buffer.extend(ts[start:end], vals[start:end])
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

    def query_aggregate(
        self, device_id: str, metric: str, start: float, end: float, every_s: float
    ) -> list[tuple[float, float, float, float, int]]:
        """(window start ts, min, max, mean, count) per `every_s` window with data, ascending.

        Windows are aligned to the epoch, so the first may start before `start`; readings in
        [start, end] are counted, each once. Exact wherever the raw data is still kept (see
        docs/storage.md for ranges past raw or minute retention).
        """
        every_ms = round(every_s * 1000)
        if every_ms < 1:
            raise ValueError(f"every_s must be at least 0.001 s, not {every_s!r}")
        lo, hi = _to_ms(start), _to_ms(end) + 1
        with self._lock:
            series_id = self._series.get((device_id, metric))
            buffer = self._open.get(series_id) if series_id is not None else None
            open_seq, open_ts, open_vals = (
                (buffer.first_id, buffer.ts[:], buffer.vals[:]) if buffer is not None
                else (0, array("q"), array("d")))
        if series_id is None or lo >= hi:
            return []
        # One snapshot for everything read below, taken after the copy: the open buffer as
        # copied is unsealed in it exactly when the series' sealed_id is below its first id.
        reader = self._reader()
        reader.execute("BEGIN")
        try:
            sealed_id, max_span = reader.execute(
                "SELECT sealed_id, max_span_ms FROM series WHERE id = ?", (series_id,)).fetchone()
            horizons = [-FAR_MS] * len(LEVEL_MS)
            for level, before_ms in reader.execute("SELECT level, before_ms FROM horizons"):
                horizons[level] = before_ms
            pieces = plan_aggregate(lo, hi, every_ms, horizons)
            parts = [_read_piece(reader, series_id, max_span, piece) for piece in pieces]
        finally:
            reader.execute("COMMIT")
        if open_ts and open_seq > sealed_id:
            ts = np.frombuffer(open_ts, np.int64)
            vals = np.frombuffer(open_vals, np.float64)
            for piece in pieces:
                low, high = piece.domain
                inside = (ts >= low) & (ts < high)
                parts.append(Buckets.of_points(np.zeros(int(inside.sum()), np.int64),
                                                ts[inside], vals[inside]))
        if not parts:
            return []
        windows = Buckets.concat(parts).merged(every_ms)
        return list(zip((windows.start / 1000).tolist(), windows.low.tolist(),
                        windows.high.tolist(), (windows.total / windows.count).tolist(),
                        windows.count.tolist(), strict=True))

    def prune(self, now: float) -> Pruned:
        """Delete sealed chunks and roll-ups older than their retention at `now`.

        Cut-offs are rounded down to the hour and recorded first, so that queries stop asking
        a level for what is about to go. Deletes by index range per series, a thousand series
        per transaction, on its own connection: write() and queries go on meanwhile. The log
        and open buffers are never touched: a late reading older than the cut-off stays until
        a later prune.
        """
        hour_ms = LEVEL_MS[HOUR]
        kept_s = (self._retention.raw_s, self._retention.minute_s, self._retention.hour_s)
        cutoffs = [(_to_ms(now - seconds) // hour_ms) * hour_ms for seconds in kept_s]
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            for level, before_ms in db.execute("SELECT level, before_ms FROM horizons"):
                cutoffs[level] = max(cutoffs[level], before_ms)  # a horizon never moves back
            db.executemany("INSERT OR REPLACE INTO horizons VALUES (?, ?)", enumerate(cutoffs))
            db.execute("COMMIT")
            with self._lock:
                series_ids = sorted(self._series.values())
            totals = [0, 0, 0, 0]
            for first in range(0, len(series_ids), _PRUNE_SERIES_PER_TRANSACTION):
                batch = series_ids[first:first + _PRUNE_SERIES_PER_TRANSACTION]
                counts = _prune_series(db, batch, cutoffs)
                with self._lock:
                    self._count -= counts[1]
                totals = [total + count for total, count in zip(totals, counts, strict=True)]
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")
            db.close()
        pruned = Pruned(*totals)
        logger.info("Pruned %s from %s", pruned, self._path)
        return pruned

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


def _read_piece(reader: sqlite3.Connection, series_id: int, max_span: int, piece: Piece
                ) -> Buckets:
    """The sealed points or roll-ups of one piece (open buffers are added by the caller)."""
    low, high = piece.domain
    if piece.level == HOUR:
        return buckets_of_hours(
            reader.execute(_SELECT_HOURS, (series_id, low, high)).fetchall())
    if piece.level == MINUTE:
        # A row's buckets start at most max_span + 1 minute apart (see the chunks it came from).
        bounds = (series_id, low - max_span - LEVEL_MS[MINUTE], high - 1, low)
        blobs = [data for (data,) in reader.execute(_SELECT_MINUTES, bounds)]
        records = np.frombuffer(b"".join(blobs), MINUTE_BUCKET)
        return Buckets.of_minutes(
            records[(records["start"] >= low) & (records["start"] < high)])
    parts = [_inside(ts, vals, low, high - 1) for _, _, ts, vals in
             reader.execute(_SELECT_CHUNKS, (series_id, low - max_span, high - 1, low))]
    ts = np.concatenate([part[0] for part in parts]) if parts else np.zeros(0, np.int64)
    vals = np.concatenate([part[1] for part in parts]) if parts else np.zeros(0)
    return Buckets.of_points(np.zeros(len(ts), np.int64), ts, vals)


def _prune_series(db: sqlite3.Connection, series_ids: list[int], cutoffs: list[int]
                  ) -> list[int]:
    """Delete what is past the cut-offs for some series, in one transaction; the counts
    (chunks, readings, minute buckets, hour buckets)."""
    raw_cutoff, minute_cutoff = cutoffs[RAW], cutoffs[MINUTE]
    chunks = readings = minutes = 0
    db.execute("BEGIN IMMEDIATE")
    for series_id in series_ids:
        deleted = db.execute(
            "DELETE FROM chunks WHERE series_id = ? AND start_ms < ? AND end_ms < ? RETURNING n",
            (series_id, raw_cutoff, raw_cutoff)).fetchall()
        if deleted:
            points = sum(n for (n,) in deleted)
            db.execute("UPDATE series SET sealed_points = sealed_points - ? WHERE id = ?",
                       (points, series_id))
            chunks, readings = chunks + len(deleted), readings + points
        minutes += sum(n for (n,) in db.execute(
            "DELETE FROM rollup_1m WHERE series_id = ? AND start_ms < ? AND end_ms < ?"
            " RETURNING buckets", (series_id, minute_cutoff, minute_cutoff)))
    hours = db.executemany("DELETE FROM rollup_1h WHERE series_id = ? AND bucket_ms < ?",
                           [(series_id, cutoffs[HOUR]) for series_id in series_ids]).rowcount
    db.execute("COMMIT")
    return [chunks, readings, minutes, hours]
