"""Roll-ups, aggregate queries and retention of SqliteReadingStore, on real SQLite files.

Every aggregate is checked against a brute-force computation over the readings written.
"""

from __future__ import annotations

import math
import random
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.config import StoreConfig
from hub.store import ReadingTuple, SqliteReadingStore
from hub.store.levels import HOUR, MINUTE, RAW, Piece, plan_aggregate
from hub.store.sqlite_readings import Retention

OpenStore = Callable[..., SqliteReadingStore]
Aggregate = tuple[float, float, float, float, int]

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: not on an hour
H0 = 1_699_999_200.0  # the hour T0 falls in
DAY = 86_400.0
MIN_MS, HOUR_MS = 60_000, 3_600_000


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "readings.db"


@pytest.fixture
def open_store(db_path: Path) -> Iterator[OpenStore]:
    """Opens stores on db_path; each is closed at teardown (a store left open is a 'crash')."""
    stores: list[SqliteReadingStore] = []

    def open_(**options: object) -> SqliteReadingStore:
        store = SqliteReadingStore(db_path, **options)  # type: ignore[arg-type]
        stores.append(store)
        return store

    yield open_
    for store in stores:
        store.close()


def brute_force(
    points: list[tuple[float, float]], start: float, end: float, every_s: float
) -> list[Aggregate]:
    every_ms, low, high = round(every_s * 1000), round(start * 1000), round(end * 1000)
    windows: defaultdict[int, list[float]] = defaultdict(list)
    for ts, value in points:
        ms = round(ts * 1000)
        if low <= ms <= high:
            windows[ms - ms % every_ms].append(value)
    return [(window / 1000, min(values), max(values), math.fsum(values) / len(values),
             len(values)) for window, values in sorted(windows.items())]


def assert_same(got: list[Aggregate], expected: list[Aggregate]) -> None:
    assert [(ts, low, high, n) for ts, low, high, _, n in got] == [
        (ts, low, high, n) for ts, low, high, _, n in expected]
    assert [mean for *_, mean, _ in got] == pytest.approx(
        [mean for *_, mean, _ in expected], rel=1e-9, abs=1e-9)


def sealed_counts(path: Path) -> tuple[int, int, int]:
    """Points in chunks, in minute buckets and in hour buckets."""
    with closing(sqlite3.connect(path)) as db:
        chunked, in_minutes, in_hours = (
            int(db.execute(f"SELECT COALESCE(SUM({column}), 0) FROM {table}").fetchone()[0])
            for table, column in (("chunks", "n"), ("rollup_1m", "points"), ("rollup_1h", "n")))
    return chunked, in_minutes, in_hours


def execute(path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for statement in statements:
            db.execute(statement)


EVERY = (0.25, 1, 7, 60, 90, 300, 3600, 5400, 7200, DAY)


# ------------------------------------------------------------------ exact against brute force


def test_random_writes_match_brute_force_across_seals_buffers_and_reopens(
    open_store: OpenStore, db_path: Path
) -> None:
    rng = random.Random(5)
    store = open_store(chunk_points=7, max_seals_per_write=1)  # seals wait, then catch up
    truth: defaultdict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    clock = 0.0
    for step in range(1, 161):
        batch: list[ReadingTuple] = []
        for _ in range(rng.randrange(1, 30)):
            device, metric = f"d{rng.randrange(3)}", rng.choice(("t", "h"))
            clock += rng.expovariate(1 / 200)
            if rng.random() < 0.2:  # late: up to a day back
                ts = T0 + max(0.0, clock - rng.uniform(0, DAY))
            elif rng.random() < 0.1 and truth[device, metric]:  # a duplicate timestamp
                ts = rng.choice(truth[device, metric])[0]
            else:
                ts = T0 + clock
            ts = round(ts * 1000) / 1000
            value = rng.choice([round(rng.uniform(-40, 60), 2), float(rng.randrange(2))])
            batch.append((device, metric, ts, value))
            truth[device, metric].append((ts, value))
        store.write(batch)
        if step % 40 == 0:  # dropped without close(), like kill -9; reopened differently
            store = open_store(chunk_points=rng.choice([3, 7, 50]),
                               max_chunk_age_s=rng.choice([0, 600]),
                               max_seals_per_write=rng.choice([1, 128]))
        (device, metric), points = rng.choice(sorted(truth.items()))
        start = T0 + rng.uniform(-3600, clock)
        end = start + rng.choice([1, 59, 3600, 5 * 3600, 3 * DAY]) * rng.random()
        every_s = rng.choice(EVERY)
        assert_same(store.query_aggregate(device, metric, start, end, every_s),
                    brute_force(points, start, end, every_s))
    chunked, in_minutes, in_hours = sealed_counts(db_path)
    assert chunked == in_minutes == in_hours > 0  # buckets hold exactly the sealed points
    for (device, metric), points in truth.items():
        for every_s in EVERY:
            assert_same(store.query_aggregate(device, metric, 0, 2e9, every_s),
                        brute_force(points, 0, 2e9, every_s))


def test_open_buffer_points_are_folded_in_at_query_time(
    open_store: OpenStore, db_path: Path
) -> None:
    store = open_store(chunk_points=4)
    stamps = [T0 + 10 * i for i in (5, 3, 9, 1, 7, 2, 0, 8, 4, 6)]  # 8 sealed, 2 open
    store.write([("d", "t", ts, ts % 97) for ts in stamps])
    store.write([("d", "t", T0 + 30, 1000.0)])  # a duplicate timestamp, still open

    assert sealed_counts(db_path) == (8, 8, 8)
    points = [(ts, ts % 97) for ts in stamps] + [(T0 + 30, 1000.0)]
    for every_s in (1, 20, 60, 3600):
        assert_same(store.query_aggregate("d", "t", T0, T0 + 100, every_s),
                    brute_force(points, T0, T0 + 100, every_s))


def test_range_ends_are_exact_inside_buckets(open_store: OpenStore) -> None:
    store = open_store(chunk_points=16)
    points = [(H0 + 7.5 * i, float(i)) for i in range(2000)]  # ~4 hours, all sealed but a few
    store.write([("d", "t", ts, value) for ts, value in points])

    for start, end in ((H0 + 100.25, H0 + 3 * 3600 + 59.5), (H0 + 3599.999, H0 + 3600),
                       (H0 + 61, H0 + 62)):
        for every_s in (60, 3600, 7200):
            assert_same(store.query_aggregate("d", "t", start, end, every_s),
                        brute_force(points, start, end, every_s))


def test_aggregates_of_unknown_series_and_bad_windows(open_store: OpenStore) -> None:
    store = open_store()
    store.write([("d", "t", T0, 1.0)])

    assert store.query_aggregate("nobody", "t", 0, 2e9, 60) == []
    assert store.query_aggregate("d", "t", T0 + 1, T0 - 1, 60) == []
    assert store.query_aggregate("d", "t", T0, T0, 60) == [(T0 - T0 % 60, 1.0, 1.0, 1.0, 1)]
    with pytest.raises(ValueError, match="every_s"):
        store.query_aggregate("d", "t", 0, 2e9, 0.0001)


# ------------------------------------------------------------------ which level answers


def test_plan_picks_the_coarsest_level_that_divides_the_window() -> None:
    none = [-(1 << 62), -(1 << 62)]
    lo, hi = int(H0 * 1000) + 90_500, int(H0 * 1000) + 3 * HOUR_MS + 30 * MIN_MS
    hour0, hour1, hour3 = int(H0 * 1000), int(H0 * 1000) + HOUR_MS, int(H0 * 1000) + 3 * HOUR_MS

    assert plan_aggregate(lo, hi, 3 * HOUR_MS, none) == [
        Piece(RAW, lo, hour0 + 2 * MIN_MS), Piece(MINUTE, hour0 + 2 * MIN_MS, hour1),
        Piece(HOUR, hour1, hour3), Piece(MINUTE, hour3, hi)]
    assert plan_aggregate(lo, hi, 5 * MIN_MS, none) == [
        Piece(RAW, lo, hour0 + 2 * MIN_MS), Piece(MINUTE, hour0 + 2 * MIN_MS, hi)]
    assert plan_aggregate(lo, hi, 90 * MIN_MS, none)[1:] == [Piece(MINUTE, hour0 + 2 * MIN_MS, hi)]
    assert plan_aggregate(lo, hi, 90_000, none) == [Piece(RAW, lo, hi)]
    assert plan_aggregate(lo, hi, 1_000, none) == [Piece(RAW, lo, hi)]
    assert plan_aggregate(hour0, hour0 + 10, 3_600_000, none) == [Piece(RAW, hour0, hour0 + 10)]


def test_plan_past_retention_uses_what_is_left() -> None:
    hour = int(H0 * 1000)
    horizons = [hour + 10 * HOUR_MS, hour + 2 * HOUR_MS]  # raw kept from +10 h, minutes +2 h
    lo, hi = hour + 30 * MIN_MS + 5, hour + 12 * HOUR_MS + 5

    assert plan_aggregate(lo, hi, 1_000, horizons) == [
        Piece(HOUR, lo, hour + 2 * HOUR_MS),  # only hours left: rounded out to whole hours
        Piece(MINUTE, hour + 2 * HOUR_MS, hour + 10 * HOUR_MS),
        Piece(RAW, hour + 10 * HOUR_MS, hi)]
    assert Piece(HOUR, lo, hour + 2 * HOUR_MS).domain == (hour, hour + 2 * HOUR_MS)
    assert plan_aggregate(lo, hi, HOUR_MS, horizons)[1:] == [
        Piece(HOUR, hour + 2 * HOUR_MS, hour + 10 * HOUR_MS),
        Piece(HOUR, hour + 10 * HOUR_MS, hour + 12 * HOUR_MS),
        Piece(RAW, hour + 12 * HOUR_MS, hi)]


@pytest.mark.parametrize(("every_s", "kept"), [(3600, "rollup_1h"), (300, "rollup_1m")])
def test_each_window_size_reads_its_level(
    open_store: OpenStore, db_path: Path, every_s: float, kept: str
) -> None:
    """Delete every other level from the file: the answers must not change."""
    store = open_store(chunk_points=8)
    points = [(H0 + 20 * i, float(i % 13)) for i in range(1080)]  # 6 hours, every 20 s
    late = [(H0 + 20 * i + 7, -float(i)) for i in random.Random(3).sample(range(1080), 40)]
    store.write([("d", "t", ts, value) for ts, value in points])
    store.write([("d", "t", ts, value) for ts, value in late])  # their minutes are in 2 chunks
    points += late
    store.close()
    assert sealed_counts(db_path)[0] == 1120  # all sealed: nothing left in the log to replay
    start, end = H0, H0 + 6 * 3600 - 0.001
    execute(db_path, *(f"DELETE FROM {table}" for table in ("chunks", "rollup_1m", "rollup_1h")
                       if table != kept))

    reopened = open_store(chunk_points=8)
    assert_same(reopened.query_aggregate("d", "t", start, end, every_s),
                brute_force(points, start, end, every_s))
    assert reopened.query_aggregate("d", "t", start, end, 30) == []  # raw: chunks are gone


# ------------------------------------------------------------------ crash recovery


def test_killed_process_neither_loses_nor_double_counts(db_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from hub.store import SqliteReadingStore
        store = SqliteReadingStore(sys.argv[1], chunk_points=16)
        for i in range(50):
            store.write([("d", "t", 1_700_000_000 + 7.0 * ts, float(ts % 11))
                         for ts in range(i * 10, i * 10 + 10)])
        print("written", flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(db_path)], stdout=subprocess.PIPE, text=True
    ) as writer:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "written\n"
        writer.kill()

    points = [(T0 + 7.0 * ts, float(ts % 11)) for ts in range(500)]
    for round_ in range(3):  # each reopen replays the unsealed tail; seal more each time
        store = SqliteReadingStore(db_path, chunk_points=16)
        try:
            for every_s in (1, 60, 3600):
                assert_same(store.query_aggregate("d", "t", 0, 2e9, every_s),
                            brute_force(points, 0, 2e9, every_s))
            more = [(T0 + 7.0 * ts, -1.0) for ts in range(500 + 9 * round_, 509 + 9 * round_)]
            store.write([("d", "t", ts, value) for ts, value in more])
            points += more
        finally:
            store.close()
    chunked, in_minutes, in_hours = sealed_counts(db_path)
    assert chunked == in_minutes == in_hours


def test_failed_seal_leaves_buckets_unchanged_and_can_be_retried(
    open_store: OpenStore, db_path: Path
) -> None:
    store = open_store(chunk_points=4)
    store.write([("d", "t", T0 + i, float(i)) for i in range(3)])
    execute(db_path, "CREATE TRIGGER refuse BEFORE INSERT ON rollup_1h BEGIN"
                     " SELECT RAISE(ABORT, 'injected'); END")
    batch: list[ReadingTuple] = [("d", "t", T0 + i, float(i)) for i in range(3, 6)]

    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        store.write(batch)  # seals: the chunk, its minute rows and the log rows roll back
    assert sealed_counts(db_path) == (0, 0, 0)
    execute(db_path, "DROP TRIGGER refuse")
    store.write(batch)

    assert sealed_counts(db_path) == (4, 4, 4)
    assert store.query_aggregate("d", "t", 0, 2e9, 3600) == [(H0, 0.0, 5.0, 2.5, 6)]


def test_file_from_before_rollups_is_backfilled_once(open_store: OpenStore, db_path: Path) -> None:
    store = open_store(chunk_points=5)
    points = [(T0 + 13 * i, float(i % 7)) for i in range(103)]
    store.write([("d", "t", ts, value) for ts, value in points])
    store.close()
    execute(db_path, "DROP TABLE rollup_1m", "DROP TABLE rollup_1h", "PRAGMA user_version = 0")

    for _ in range(2):
        reopened = open_store(chunk_points=5)
        assert_same(reopened.query_aggregate("d", "t", 0, 2e9, 60),
                    brute_force(points, 0, 2e9, 60))
        reopened.close()
    assert sealed_counts(db_path) == (100, 100, 100)


def test_aggregates_during_writes_count_each_reading_once(open_store: OpenStore) -> None:
    store = open_store(chunk_points=8)
    written = 0
    done = threading.Event()

    def write_steadily() -> None:
        nonlocal written
        for start in range(0, 3000, 5):
            store.write([("d", "t", T0 + ts, 1.0) for ts in range(start, start + 5)])
            written = start + 5
        done.set()

    writer = threading.Thread(target=write_steadily)
    writer.start()
    try:
        while not done.is_set():
            before = written
            counted = sum(row[4] for row in store.query_aggregate("d", "t", 0, 2e9, 60))
            assert before <= counted <= written + 5
    finally:
        writer.join()
    assert sum(row[4] for row in store.query_aggregate("d", "t", 0, 2e9, 60)) == 3000


# ------------------------------------------------------------------ retention


RETENTION = Retention(raw_s=2 * DAY, minute_s=10 * DAY, hour_s=100 * DAY)


def fill_days(
    store: SqliteReadingStore, days: int, step_s: float = 600
) -> list[tuple[float, float]]:
    points = [(H0 + step_s * i, float(i % 17)) for i in range(int(days * DAY / step_s))]
    store.write([("d", "t", ts, value) for ts, value in points])
    return points


def rows_before(path: Path, table: str, column: str, cutoff_ms: int,
                count: str = "COUNT(*)") -> tuple[int, int]:
    """How many rows (or what SUM) of the table have `column` before the cut-off, of all."""
    with closing(sqlite3.connect(path)) as db:
        old = db.execute(f"SELECT COALESCE({count}, 0) FROM {table} WHERE {column} < ?",
                         (cutoff_ms,))
        (before,) = old.fetchone()
        (total,) = db.execute(f"SELECT COALESCE({count}, 0) FROM {table}").fetchone()
    return before, total


def test_prune_deletes_exactly_what_is_past_retention(open_store: OpenStore, db_path: Path) -> None:
    store = open_store(chunk_points=6, retention=RETENTION)
    fill_days(store, 120)
    now = H0 + 120 * DAY + 1234.5
    raw_cutoff = int((now - 2 * DAY) // 3600 * 3600 * 1000)
    minute_cutoff = int((now - 10 * DAY) // 3600 * 3600 * 1000)
    hour_cutoff = int((now - 100 * DAY) // 3600 * 3600 * 1000)
    old_chunks, chunks = rows_before(db_path, "chunks", "end_ms", raw_cutoff)
    # A rollup_1m row holds one sealed chunk's minutes: it goes when its last one is past.
    old_minutes, minutes = rows_before(db_path, "rollup_1m", "end_ms", minute_cutoff,
                                       "SUM(buckets)")
    old_hours, hours = rows_before(db_path, "rollup_1h", "bucket_ms", hour_cutoff)
    count = store.count()

    pruned = store.prune(now)

    assert (pruned.chunks, pruned.minute_buckets, pruned.hour_buckets) == (
        old_chunks, old_minutes, old_hours)
    assert pruned.readings == 6 * old_chunks
    assert rows_before(db_path, "chunks", "end_ms", raw_cutoff) == (0, chunks - old_chunks)
    assert rows_before(db_path, "rollup_1m", "end_ms", minute_cutoff, "SUM(buckets)") == (
        0, minutes - old_minutes)
    assert rows_before(db_path, "rollup_1h", "bucket_ms", hour_cutoff) == (0, hours - old_hours)
    assert store.count() == count - pruned.readings
    assert store.prune(now) == type(pruned)(0, 0, 0, 0)
    assert open_store(retention=RETENTION).count() == store.count()


def test_prune_keeps_open_buffers_and_the_log(open_store: OpenStore) -> None:
    store = open_store(chunk_points=1000, retention=RETENTION)
    old = [("d", "t", H0 + i, float(i)) for i in range(5)]  # ancient, but not sealed
    store.write(old)

    assert store.prune(H0 + 400 * DAY) == type(store.prune(H0))(0, 0, 0, 0)
    assert store.query("d", "t", 0, 2e9) == [(ts, value) for _, _, ts, value in old]
    assert open_store(chunk_points=1000).count() == 5  # replayed from the log


def test_queries_past_raw_retention_answer_from_rollups(open_store: OpenStore) -> None:
    store = open_store(chunk_points=6, retention=RETENTION)
    points = fill_days(store, 30, step_s=45)
    now = H0 + 30 * DAY
    store.prune(now)
    raw_from = (now - 2 * DAY) // 3600 * 3600
    minutes_from = (now - 10 * DAY) // 3600 * 3600

    assert store.query("d", "t", H0, raw_from - 3600) == []  # the raw points are gone
    for start, end, every_s in ((minutes_from, now, 60), (H0, now, 3600),
                                (H0 + 3600, now - 7, DAY), (raw_from - 7200, now - 0.5, 300)):
        assert_same(store.query_aggregate("d", "t", start, end, every_s),
                    brute_force(points, start, end, every_s))
    # A range end inside a bucket whose raw points are gone takes the whole bucket.
    assert_same(store.query_aggregate("d", "t", minutes_from + 0.5, raw_from - 90, 300),
                brute_force(points, minutes_from, raw_from - 60.001, 300))
    assert_same(store.query_aggregate("d", "t", H0 + 7, now, DAY),
                brute_force(points, H0, now, DAY))
    # Finer than what is left: one row per kept bucket, at the bucket's start.
    coarse = store.query_aggregate("d", "t", H0, raw_from - 0.001, 1)
    assert {ts % 60 for ts, *_ in coarse} == {0}
    assert {ts % 3600 for ts, *_ in coarse if ts < minutes_from} == {0}
    assert sum(row[4] for row in coarse) == sum(1 for ts, _ in points if ts < raw_from)
    assert_same([row for row in store.query_aggregate("d", "t", H0, now, 1) if row[0] >= raw_from],
                brute_force(points, raw_from, now, 1))


def test_prune_runs_alongside_writes(open_store: OpenStore) -> None:
    store = open_store(chunk_points=6, retention=RETENTION)
    points = fill_days(store, 20)
    late: list[tuple[float, float]] = []

    def write_more() -> None:
        for i in range(200):
            ts = H0 + 20 * DAY + 60 * i
            store.write([("d", "t", ts, 1.0), ("e", "t", ts, 2.0)])
            late.append((ts, 1.0))

    writer = threading.Thread(target=write_more)
    writer.start()
    try:
        for day in range(15, 21):
            store.prune(H0 + day * DAY)
    finally:
        writer.join()
    start = (H0 + 20 * DAY - 2 * DAY) // 3600 * 3600
    assert_same(store.query_aggregate("d", "t", start, 2e9, 60),
                brute_force(points + late, start, 2e9, 60))


# ------------------------------------------------------------------ configuration


def test_retention_settings_parse_durations_and_years() -> None:
    spec = StoreConfig.model_validate(
        {"raw_retention": "7d", "minute_retention": "2160h", "hour_retention": "2y"})

    assert (spec.raw_retention, spec.minute_retention, spec.hour_retention) == (
        7 * DAY, 90 * DAY, 2 * 365 * DAY)
    assert StoreConfig().hour_retention == 5 * 365 * DAY
    with pytest.raises(ValidationError, match="raw_retention <= minute_retention"):
        StoreConfig.model_validate({"raw_retention": "200d"})
    with pytest.raises(ValidationError, match="longer than zero"):
        StoreConfig.model_validate({"hour_retention": "0d"})
    with pytest.raises(ValidationError, match="not a duration"):
        StoreConfig.model_validate({"raw_retention": "a month"})
    with pytest.raises(ValueError, match="raw"):
        Retention(raw_s=DAY, minute_s=DAY / 2)
