"""SqliteReadingStore against real SQLite files: contents, sealing, crash recovery, concurrency."""

from __future__ import annotations

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

from hub.store import ReadingTuple, SqliteReadingStore

OpenStore = Callable[..., SqliteReadingStore]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "readings.db"


@pytest.fixture
def open_store(db_path: Path) -> Iterator[OpenStore]:
    """Opens stores on db_path; each is closed at teardown unless the test closed it."""
    stores: list[SqliteReadingStore] = []

    def open_(**options: float) -> SqliteReadingStore:
        store = SqliteReadingStore(db_path, **options)  # type: ignore[arg-type]
        stores.append(store)
        return store

    yield open_
    for store in stores:
        store.close()


def series(device: str, metric: str, timestamps: range | list[float]) -> list[ReadingTuple]:
    """Readings whose value equals their timestamp, so any mix-up shows in the assertion."""
    return [(device, metric, float(ts), float(ts)) for ts in timestamps]


def points(timestamps: range | list[float]) -> list[tuple[float, float]]:
    return [(float(ts), float(ts)) for ts in timestamps]


def log_rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM log").fetchone()
    return int(rows)


def chunk_rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM chunks").fetchone()
    return int(rows)


def test_round_trip(open_store: OpenStore) -> None:
    store = open_store()
    store.write([("boiler-1", "temperature", 1_700_000_000.25, 61.5)])

    assert store.query("boiler-1", "temperature", 0, 2e9) == [(1_700_000_000.25, 61.5)]
    assert store.count() == 1


def test_query_bounds_are_inclusive(open_store: OpenStore) -> None:
    store = open_store(chunk_points=4)
    store.write(series("d", "t", range(10, 21)))

    assert store.query("d", "t", 12, 15) == points(range(12, 16))
    assert store.query("d", "t", 20, 30) == points([20])
    assert store.query("d", "t", 0, 9.999) == []


def test_series_are_isolated(open_store: OpenStore) -> None:
    store = open_store(chunk_points=4)
    store.write(series("a", "t", range(10)) + series("a", "h", range(100, 105)))
    store.write(series("b", "t", range(1000, 1003)))

    assert store.query("a", "t", 0, 2e9) == points(range(10))
    assert store.query("a", "h", 0, 2e9) == points(range(100, 105))
    assert store.query("b", "t", 0, 2e9) == points(range(1000, 1003))
    assert store.query("b", "h", 0, 2e9) == []
    assert store.query("nobody", "t", 0, 2e9) == []


def test_out_of_order_timestamps_come_back_sorted_and_complete(open_store: OpenStore) -> None:
    store = open_store(chunk_points=4)
    store.write(series("d", "t", [5, 3, 9, 1, 7, 2]))  # one chunk sealed, two points open
    store.write(series("d", "t", [0, 8, 4, 6]))  # late points, some before sealed ones
    store.write(series("d", "t", [5, 5, 5, 5]))  # duplicates: chunks with the same start_ms

    assert store.query("d", "t", 0, 100) == points([0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 6, 7, 8, 9])


def test_sealed_chunks_and_open_buffer_are_merged(open_store: OpenStore, db_path: Path) -> None:
    store = open_store(chunk_points=4)
    for start in range(0, 10, 3):
        store.write(series("d", "t", range(start, min(start + 3, 10))))

    assert chunk_rows(db_path) == 2  # 8 points sealed, 2 still open
    assert store.query("d", "t", 0, 100) == points(range(10))
    assert store.query("d", "t", 3, 8) == points(range(3, 9))


def test_a_large_write_to_one_series_is_cut_into_chunks(
    open_store: OpenStore, db_path: Path
) -> None:
    store = open_store(chunk_points=4)
    store.write(series("d", "t", range(2)))
    store.write(series("d", "t", range(2, 13)))

    assert chunk_rows(db_path) == 3
    assert store.query("d", "t", 0, 100) == points(range(13))


def test_limit_returns_the_earliest_points(open_store: OpenStore) -> None:
    store = open_store(chunk_points=8)
    store.write(series("d", "t", range(100)))
    store.write(series("d", "t", [1.5, 2.5]))  # late points the early chunks do not hold

    assert store.query("d", "t", 0, 1000, limit=5) == points([0, 1, 1.5, 2, 2.5])
    assert store.query("d", "t", 50, 1000, limit=3) == points([50, 51, 52])
    assert len(store.query("d", "t", 0, 1000)) == 102
    assert store.query("d", "t", 0, 1000, limit=0) == []


def test_metrics_of_and_count(open_store: OpenStore) -> None:
    store = open_store(chunk_points=4)
    store.write(series("d", "temperature", range(5)) + series("d", "smoke", range(2)))
    store.write([("e", "door_open", 1.0, True)])

    assert store.metrics_of("d") == ["smoke", "temperature"]
    assert store.metrics_of("e") == ["door_open"]
    assert store.metrics_of("nobody") == []
    assert store.count() == 8
    assert store.query("e", "door_open", 0, 10) == [(1.0, 1.0)]


def test_reopen_after_close_keeps_everything(open_store: OpenStore) -> None:
    store = open_store(chunk_points=4)
    store.write(series("d", "t", range(10)))
    store.close()

    reopened = open_store(chunk_points=4)
    assert reopened.count() == 10
    assert reopened.metrics_of("d") == ["t"]
    reopened.write(series("d", "t", range(10, 15)))
    assert reopened.query("d", "t", 0, 100) == points(range(15))


def test_a_store_dropped_without_close_loses_nothing(open_store: OpenStore) -> None:
    crashed = open_store(chunk_points=4)
    crashed.write(series("d", "t", range(10)) + series("e", "h", range(3)))
    # `crashed` is never closed before the second store reads the file, as after kill -9.

    recovered = open_store(chunk_points=4)
    assert recovered.count() == 13
    assert recovered.query("d", "t", 0, 100) == points(range(10))
    assert recovered.query("e", "h", 0, 100) == points(range(3))


def test_killed_process_loses_no_written_reading(db_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from hub.store import SqliteReadingStore
        store = SqliteReadingStore(sys.argv[1], chunk_points=16)
        for i in range(50):
            store.write([("d", "t", float(ts), float(ts)) for ts in range(i * 10, i * 10 + 10)])
        print("written", flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(db_path)], stdout=subprocess.PIPE, text=True
    ) as writer:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "written\n"
        writer.kill()  # SIGKILL: no close(), no atexit, no final checkpoint

    store = SqliteReadingStore(db_path, chunk_points=16)
    try:
        assert store.count() == 500
        assert store.query("d", "t", 0, 1000) == points(range(500))
    finally:
        store.close()


def test_log_head_is_deleted_once_sealed(open_store: OpenStore, db_path: Path) -> None:
    store = open_store(chunk_points=4)
    store.write(series("d", "t", range(3)) + series("e", "t", range(3)))
    assert log_rows(db_path) == 6

    store.write(series("d", "t", range(3, 8)) + series("e", "t", range(3, 8)))
    store.write(series("d", "t", [8]))  # the trim runs at the start of the next write

    assert log_rows(db_path) < 13
    assert store.query("d", "t", 0, 100) == points(range(9))
    assert store.query("e", "t", 0, 100) == points(range(8))


def test_log_stays_short_under_steady_writes(open_store: OpenStore, db_path: Path) -> None:
    store = open_store(chunk_points=4)
    for start in range(0, 25_000, 1000):
        store.write(series("d", "t", range(start, start + 1000)))

    assert log_rows(db_path) <= 2000  # each write trims what the ones before it sealed
    assert store.count() == 25_000


def test_trimmed_log_and_fresh_ids_survive_restarts(open_store: OpenStore) -> None:
    store = open_store(chunk_points=2)
    store.write(series("d", "t", range(4)))  # all sealed
    store.write(series("e", "t", [0]))  # trims the whole head of the log
    store.close()

    restarted = open_store(chunk_points=2)
    restarted.write(series("d", "t", [4]))  # must get a log id above every sealed one

    recovered = open_store(chunk_points=2)
    assert recovered.query("d", "t", 0, 100) == points(range(5))
    assert recovered.count() == 6


def test_trimming_keeps_buffers_opened_in_the_same_write(open_store: OpenStore) -> None:
    store = open_store(chunk_points=2)
    store.write(series("a", "t", [0]))
    # a's first chunk is sealed and its tail reopened at a later log id than b's new buffer:
    # the trim watermark must still be b's first point.
    store.write([*series("a", "t", [1]), *series("b", "t", [0]), *series("a", "t", [2])])
    store.write(series("c", "t", [0]))  # trims

    recovered = open_store(chunk_points=2)
    assert recovered.query("b", "t", 0, 100) == points([0])
    assert recovered.query("a", "t", 0, 100) == points(range(3))


def test_old_open_buffers_are_sealed_by_age(open_store: OpenStore, db_path: Path) -> None:
    store = open_store(chunk_points=1000, max_chunk_age_s=0)
    store.write(series("d", "t", range(3)))
    store.write(series("e", "t", range(2)))  # d's buffer is old by now

    assert chunk_rows(db_path) >= 1
    assert store.query("d", "t", 0, 100) == points(range(3))
    assert store.count() == 5


def test_a_wave_of_full_buffers_seals_a_few_per_write(open_store: OpenStore, db_path: Path
                                                      ) -> None:
    """Series reporting at one rate fill their chunks together; the seals are spread."""
    store = open_store(chunk_points=4, max_seals_per_write=3)
    devices = [f"d{i}" for i in range(9)]
    store.write([r for d in devices for r in series(d, "t", range(3))])
    assert chunk_rows(db_path) == 0
    sealed = []
    for ts in range(3, 7):  # every buffer is due from the first of these writes on
        store.write([r for d in devices for r in series(d, "t", [ts])])
        sealed.append(chunk_rows(db_path))
        for d in devices:
            assert store.query(d, "t", 0, 100) == points(range(ts + 1))
    assert sealed == [3, 6, 9, 9]
    assert store.count() == 9 * 7


def test_a_buffer_far_past_its_chunk_seals_over_the_budget(open_store: OpenStore,
                                                           db_path: Path) -> None:
    store = open_store(chunk_points=2, max_seals_per_write=1)
    for ts in range(12):  # a is due at every write and, first in line, takes the budget
        store.write(series("a", "t", [2 * ts, 2 * ts + 1]) + series("b", "t", [ts]))
    with closing(sqlite3.connect(db_path)) as db:
        b_chunks = db.execute("SELECT n FROM chunks JOIN series ON series.id = series_id "
                              "WHERE device_id = 'b' ORDER BY start_ms").fetchall()
    # b waited until its open buffer plus the arrival reached four chunks' worth (8): its
    # 7 points sealed anyway, and the arrival stays open as the next chunk's start.
    assert [n for (n,) in b_chunks] == [7]
    assert chunk_rows(db_path) == 12 + 1
    assert store.query("a", "t", 0, 100) == points(range(24))
    assert store.query("b", "t", 0, 100) == points(range(12))


def test_failed_write_changes_nothing_and_can_be_retried(open_store: OpenStore) -> None:
    store = open_store(chunk_points=4)
    store.write(series("d", "t", range(3)))
    broken: list[ReadingTuple] = [*series("d", "t", range(3, 6)), ("d", "t", None, 1.0)]  # type: ignore[list-item]

    with pytest.raises(ValueError, match="timestamp"):
        store.write(broken)
    store.write(series("d", "t", range(3, 6)))

    assert store.count() == 6
    assert store.query("d", "t", 0, 100) == points(range(6))


def test_queries_during_writes_see_each_reading_once(open_store: OpenStore) -> None:
    store = open_store(chunk_points=8)
    written = 0
    done = threading.Event()

    def write_steadily() -> None:
        nonlocal written
        for start in range(0, 3000, 5):
            store.write(series("d", "t", range(start, start + 5)))
            written = start + 5
        done.set()

    writer = threading.Thread(target=write_steadily)
    writer.start()
    try:
        while not done.is_set():
            before = written
            result = store.query("d", "t", 0, 1e6)
            after = written
            # Everything written before the query, maybe part of the write in flight.
            assert before <= len(result) <= after + 5
            assert result == points(range(len(result)))
    finally:
        writer.join()
    assert store.query("d", "t", 0, 1e6) == points(range(3000))


def test_random_writes_reopens_and_queries_match_a_plain_list(open_store: OpenStore) -> None:
    rng = random.Random(20240611)
    store = open_store(chunk_points=5, max_seals_per_write=1)
    truth: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
    for step in range(1, 121):
        batch = series(f"d{rng.randrange(4)}", rng.choice("ab"), rng.sample(range(500), 7))
        batch += series("d0", "a", [rng.randrange(500)])
        store.write(batch)
        for device, metric, ts, _ in batch:
            truth[device, metric].append(ts)
        if step % 30 == 0:  # "crash" and reopen, sometimes with another chunk size or max age
            options = {
                "chunk_points": rng.choice([2, 5, 9]),
                "max_chunk_age_s": rng.choice([0, 600]),
                "max_seals_per_write": rng.choice([1, 2, 128]),
            }
            store = open_store(**options)
        (device, metric), stamps = rng.choice(sorted(truth.items()))
        low, high = sorted(rng.sample(range(-10, 510), 2))
        limit = rng.choice([1, 3, 10_000])
        expected = sorted(ts for ts in stamps if low <= ts <= high)[:limit]
        assert store.query(device, metric, low, high, limit) == points(expected)
    assert store.count() == sum(len(stamps) for stamps in truth.values())


def test_the_log_keeps_every_value_bit_for_bit_whatever_path_it_takes(
    open_store: OpenStore, db_path: Path
) -> None:
    # Finite batches go into the log as one JSON statement; a batch holding an infinity
    # (JSON has none) goes row by row. Both must come back exact, from the log after a crash
    # as from memory.
    rng = random.Random(7)
    odd = [rng.uniform(-1e6, 1e6) for _ in range(300)] + [5e-324, 1.7976931348623157e308,
                                                         -0.0, 0.1 + 0.2, 1 / 3]
    crashed = open_store(chunk_points=10_000)
    crashed.write([("d", "v", 1_700_000_000.0 + i, v) for i, v in enumerate(odd)])
    crashed.write([("d", "w", 1_700_000_000.0, float("inf")),
                   ("d", "w", 1_700_000_001.0, 2.5)])
    assert log_rows(db_path) == len(odd) + 2

    recovered = open_store(chunk_points=10_000)
    assert [v for _, v in recovered.query("d", "v", 0, 2e9)] == odd
    assert recovered.query("d", "w", 0, 2e9) == [(1_700_000_000.0, float("inf")),
                                               (1_700_000_001.0, 2.5)]
