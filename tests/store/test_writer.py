"""ReadingWriter over a real SqliteReadingStore; wrappers only record, stall or inject faults."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from hub.cpu import IDLE_CLASS
from hub.store import ReadingTuple, ReadingWriter, SqliteReadingStore


class RecordingStore:
    """Passes everything to the real store; subclasses change what write() does first."""

    def __init__(self, store: SqliteReadingStore) -> None:
        self.store = store
        self.batch_sizes: list[int] = []

    def write(self, readings: Sequence[ReadingTuple]) -> None:
        self.batch_sizes.append(len(readings))
        self.store.write(readings)

    def query(
        self, device_id: str, metric: str, start: float, end: float, limit: int = 10_000
    ) -> list[tuple[float, float]]:
        return self.store.query(device_id, metric, start, end, limit)

    def metrics_of(self, device_id: str) -> list[str]:
        return self.store.metrics_of(device_id)

    def count(self) -> int:
        return self.store.count()

    def close(self) -> None:
        self.store.close()


class GatedStore(RecordingStore):
    """write() blocks until the test opens the gate: a store that cannot keep up."""

    def __init__(self, store: SqliteReadingStore) -> None:
        super().__init__(store)
        self.gate = threading.Event()

    def write(self, readings: Sequence[ReadingTuple]) -> None:
        self.gate.wait(timeout=10)
        super().write(readings)


class FailingOnceStore(RecordingStore):
    def write(self, readings: Sequence[ReadingTuple]) -> None:
        if not self.batch_sizes:
            self.batch_sizes.append(0)
            raise OSError("disk I/O error (injected)")
        super().write(readings)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteReadingStore]:
    store = SqliteReadingStore(tmp_path / "readings.db", chunk_points=64)
    yield store
    store.close()


@pytest.fixture
def writers() -> Iterator[list[ReadingWriter]]:
    """Writers a test appends here are stopped at teardown even when the test fails."""
    started: list[ReadingWriter] = []
    yield started
    for writer in started:
        writer.stop(timeout=10)


def readings(device: str, start: int, n: int) -> list[ReadingTuple]:
    return [(device, "temperature", float(ts), float(ts)) for ts in range(start, start + n)]


async def test_small_submissions_are_merged_into_large_batches(
    sqlite_store: SqliteReadingStore, writers: list[ReadingWriter]
) -> None:
    store = RecordingStore(sqlite_store)
    writer = ReadingWriter(store, max_batch=1000)
    writers.append(writer)
    for i in range(1000):
        await writer.submit(readings(f"d{i % 10}", i, 3))
    assert writer.pending == 3000

    writer.start()
    await writer.flush()

    assert store.batch_sizes == [1000, 1000, 1000]
    assert writer.written == 3000
    assert writer.pending == 0
    assert sqlite_store.count() == 3000
    assert len(writer.write_latency_samples()) == 3
    assert writer.write_latency_samples() == []  # each sample is handed out once
    assert writer.last_write_seconds > 0


async def test_submit_waits_while_full_and_resumes_when_drained(
    sqlite_store: SqliteReadingStore, writers: list[ReadingWriter]
) -> None:
    store = GatedStore(sqlite_store)
    writer = ReadingWriter(store, max_pending=10)
    writers.append(writer)
    writer.start()
    await writer.submit(readings("d", 0, 10))
    assert not writer.submit_nowait(readings("d", 10, 1))

    blocked = asyncio.create_task(writer.submit(readings("d", 10, 5)))
    await asyncio.sleep(0.05)  # the loop keeps running while submit() waits
    assert not blocked.done()
    assert writer.pending == 10

    store.gate.set()
    await asyncio.wait_for(blocked, timeout=5)
    await writer.flush()

    assert sqlite_store.query("d", "temperature", 0, 100) == [
        (float(ts), float(ts)) for ts in range(15)
    ]


async def test_a_failed_write_is_retried_and_nothing_is_lost(
    sqlite_store: SqliteReadingStore,
    writers: list[ReadingWriter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FailingOnceStore(sqlite_store)
    writer = ReadingWriter(store)
    writers.append(writer)
    writer.start()

    with caplog.at_level(logging.WARNING, logger="hub.store.writer"):
        await writer.submit(readings("d", 0, 100))
        await asyncio.wait_for(writer.flush(), timeout=5)

    assert writer.failures == 1
    assert not writer.failing
    assert "disk I/O error (injected)" in caplog.text
    assert sqlite_store.count() == 100
    assert writer.written == 100


async def test_stop_drains_everything_submitted(sqlite_store: SqliteReadingStore) -> None:
    writer = ReadingWriter(sqlite_store, max_batch=500)
    writer.start()
    for i in range(100):
        assert writer.submit_nowait(readings(f"d{i}", 0, 50))

    writer.stop()

    assert sqlite_store.count() == 5000
    assert writer.pending == 0
    with pytest.raises(RuntimeError, match="stopped"):
        writer.submit_nowait(readings("d", 0, 1))


async def test_an_oversized_submission_is_accepted_on_an_empty_queue(
    sqlite_store: SqliteReadingStore, writers: list[ReadingWriter]
) -> None:
    writer = ReadingWriter(sqlite_store, max_pending=10, max_batch=4)
    writers.append(writer)
    writer.start()

    await asyncio.wait_for(writer.submit(readings("d", 0, 25)), timeout=5)
    await writer.flush()

    assert sqlite_store.count() == 25


async def test_flush_without_a_running_thread_fails_fast(
    sqlite_store: SqliteReadingStore,
) -> None:
    writer = ReadingWriter(sqlite_store)
    await writer.submit(readings("d", 0, 1))

    with pytest.raises(RuntimeError, match="not running"):
        await writer.flush()


@pytest.mark.skipif(not IDLE_CLASS, reason="SCHED_IDLE is Linux's")
async def test_an_idle_cpu_writer_writes_on_idle_cores_only(
    sqlite_store: SqliteReadingStore, writers: list[ReadingWriter]
) -> None:
    writer = ReadingWriter(sqlite_store, idle_cpu=True)
    writers.append(writer)
    writer.start()
    await writer.submit(readings("d", 0, 10))
    await asyncio.wait_for(writer.flush(), timeout=5)

    assert sqlite_store.count() == 10
    assert writer._thread is not None
    assert writer._thread.native_id is not None
    assert os.sched_getscheduler(writer._thread.native_id) == os.SCHED_IDLE
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the caller's thread is left alone


@pytest.mark.skipif(not IDLE_CLASS, reason="SCHED_IDLE is Linux's")
async def test_a_sandbox_that_forbids_idle_cpu_does_not_stop_the_writer(
    sqlite_store: SqliteReadingStore, writers: list[ReadingWriter],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    def forbidden(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", forbidden)  # a seccomp profile, injected
    writer = ReadingWriter(sqlite_store, idle_cpu=True)
    writers.append(writer)
    with caplog.at_level(logging.WARNING, logger="hub.cpu"):
        writer.start()
        await writer.submit(readings("d", 0, 10))
        await asyncio.wait_for(writer.flush(), timeout=5)

    assert sqlite_store.count() == 10
    assert "cannot run storage on idle CPU only" in caplog.text
