"""Ingest rate of a naive indexed readings table versus SqliteReadingStore, filled from empty.

    .venv/bin/python benchmarks/store_sqlite.py [--readings 2000000] [--no-naive]

Telemetry: 10,000 devices x 3 metrics, every device reporting every 30 s at its own phase,
written in batches of 20,000 (what ReadingWriter hands the store). Only the write calls are
timed; the rate is printed per 500k segment so a decline is visible.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path

from hub.store import ReadingTuple, SqliteReadingStore

DEVICES = 10_000
METRICS = ("temperature", "humidity", "battery")
PERIOD_S = 30.0
T0 = 1_700_000_000.0
SEGMENT = 500_000
BATCH = 20_000
PROBE_DEVICE = "dev-04242"


def fleet() -> Iterator[ReadingTuple]:
    """Readings in arrival order, timestamps advancing like a real fleet."""
    for i in itertools.count():
        tick, device = divmod(i, DEVICES)
        ts = T0 + tick * PERIOD_S + device * PERIOD_S / DEVICES
        wave = math.sin(tick / 50)
        for k, metric in enumerate(METRICS):
            yield f"dev-{device:05d}", metric, ts, 20 + k + wave


def telemetry(n: int) -> Iterator[list[ReadingTuple]]:
    readings = fleet()
    for start in range(0, n, BATCH):
        yield list(itertools.islice(readings, min(BATCH, n - start)))


Rates = tuple[float, float]  # overall, last segment


def fill(name: str, n: int, write: Callable[[Sequence[ReadingTuple]], None]) -> Rates:
    """Write n readings, print the rate per segment, return the overall and the last rate."""
    print(f"\n{name}")
    rate = 0.0
    written, segment_start, segment_time, total_time = 0, 0, 0.0, 0.0
    for batch in telemetry(n):
        started = time.perf_counter()
        write(batch)
        elapsed = time.perf_counter() - started
        written += len(batch)
        segment_time += elapsed
        total_time += elapsed
        if written - segment_start >= SEGMENT or written >= n:
            rate = (written - segment_start) / segment_time
            print(f"  {segment_start:>10,} .. {written:>10,}  {rate:>10,.0f} readings/s")
            segment_start, segment_time = written, 0.0
    print(f"  overall {written / total_time:,.0f} readings/s")
    return written / total_time, rate


def time_query(query: Callable[[], int]) -> None:
    started = time.perf_counter()
    points = query()
    first = time.perf_counter() - started
    repeats = []
    for _ in range(20):
        started = time.perf_counter()
        query()
        repeats.append(time.perf_counter() - started)
    print(
        f"  history query, {PROBE_DEVICE} x {len(METRICS)} metrics, full range: {points} points,"
        f" first {first * 1000:.2f} ms, then median {statistics.median(repeats) * 1000:.2f} ms"
    )


def bench_naive(path: Path, n: int) -> Rates:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "cache_size = -65536"):
            db.execute(f"PRAGMA {pragma}")
        db.execute("CREATE TABLE readings (device TEXT, metric TEXT, ts REAL, value REAL)")
        db.execute("CREATE INDEX readings_series ON readings (device, metric, ts)")

        def write(batch: Sequence[ReadingTuple]) -> None:
            db.execute("BEGIN")
            db.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)", batch)
            db.execute("COMMIT")

        rates = fill("(a) naive: one row per reading, index on (device, metric, ts)", n, write)
        sql = (
            "SELECT ts, value FROM readings"
            " WHERE device = ? AND metric = ? AND ts BETWEEN ? AND ? ORDER BY ts"
        )
        time_query(
            lambda: sum(
                len(db.execute(sql, (PROBE_DEVICE, metric, 0, 4e9)).fetchall())
                for metric in METRICS
            )
        )
    return rates


def bench_chunked(path: Path, n: int) -> Rates:
    store = SqliteReadingStore(path)
    try:
        rates = fill("(b) SqliteReadingStore: chunked series + append-only log", n, store.write)
        time_query(
            lambda: sum(len(store.query(PROBE_DEVICE, metric, 0, 4e9)) for metric in METRICS)
        )
    finally:
        store.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--readings", type=int, default=2_000_000)
    parser.add_argument("--no-naive", action="store_true", help="skip the slow naive table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        naive = None if args.no_naive else bench_naive(Path(directory, "naive.db"), args.readings)
        chunked = bench_chunked(Path(directory, "chunked.db"), args.readings)
        for name in ("naive.db", "chunked.db"):
            if (file := Path(directory, name)).exists():
                print(f"  {name}: {file.stat().st_size / 1e6:,.0f} MB")
    if naive:
        overall, last = chunked[0] / naive[0], chunked[1] / naive[1]
        print(f"\nratio b/a: overall {overall:.1f}x, last segment {last:.1f}x")


if __name__ == "__main__":
    main()
