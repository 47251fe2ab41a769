"""The SQLite reading store in a process of its own: the same answers as in the hub's
process, errors that keep their type, and a child that is killed comes back with its data."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from hub.cpu import IDLE_CLASS
from hub.store.base import ReadingTuple
from hub.store.process import STORE_NICENESS, ProcessStore, StoreProcessError
from hub.store.sqlite_readings import Retention, SqliteReadingStore

T0 = 1_700_000_000.0


def readings(device: str, n: int, start: int = 0) -> list[ReadingTuple]:
    return [(device, "temperature", T0 + i * 10, 20.0 + (i % 7)) for i in range(start, start + n)]


@pytest.fixture
def process_store(tmp_path: Path) -> Iterator[ProcessStore]:
    store = ProcessStore(partial(SqliteReadingStore, tmp_path / "readings.db",
                                 chunk_points=16))
    yield store
    store.close()


def test_answers_match_the_store_in_this_process(process_store: ProcessStore,
                                                 tmp_path: Path) -> None:
    local = SqliteReadingStore(tmp_path / "local.db", chunk_points=16)
    try:
        for batch in (readings("a", 40), readings("b", 5), readings("a", 30, start=40)):
            process_store.write(batch)
            local.write(batch)
        for device in ("a", "b", "nobody"):
            assert process_store.query(device, "temperature", T0, T0 + 1e6) == \
                local.query(device, "temperature", T0, T0 + 1e6)
            assert process_store.query(device, "temperature", T0 + 55, T0 + 300, 4) == \
                local.query(device, "temperature", T0 + 55, T0 + 300, 4)
            assert process_store.query_aggregate(device, "temperature", T0, T0 + 1e6, 60) == \
                local.query_aggregate(device, "temperature", T0, T0 + 1e6, 60)
            assert process_store.metrics_of(device) == local.metrics_of(device)
        assert process_store.count() == local.count() == 75
    finally:
        local.close()


def test_the_child_yields_the_cpu_to_the_hub(process_store: ProcessStore) -> None:
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    child = os.getpriority(os.PRIO_PROCESS, process_store._process.pid)
    assert child == min(19, ours + STORE_NICENESS)


@pytest.mark.skipif(not IDLE_CLASS, reason="SCHED_IDLE is Linux's")
def test_the_child_writes_only_on_idle_cpu_and_answers_queries_at_its_niceness(
        process_store: ProcessStore) -> None:
    process_store.write(readings("a", 3))
    assert process_store.count() == 3  # the query thread is up
    pid = process_store._process.pid
    threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    policies = {tid: os.sched_getscheduler(tid) for tid in threads}
    assert policies.pop(pid) == os.SCHED_IDLE  # the main thread writes
    assert policies  # the query thread, at least
    assert set(policies.values()) == {os.SCHED_OTHER}


def test_errors_keep_their_type_and_message(process_store: ProcessStore) -> None:
    with pytest.raises(ValueError, match=r"at least 0\.001 s"):
        process_store.query_aggregate("a", "temperature", T0, T0 + 10, 0)
    with pytest.raises(ValueError, match="timestamp must be a finite number"):
        process_store.write([("a", "temperature", float("nan"), 1.0)])
    process_store.write(readings("a", 3))  # the child is still there
    assert process_store.count() == 3


def test_a_store_that_cannot_open_says_why(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    with pytest.raises(Exception, match="unable to open database file"):
        ProcessStore(partial(SqliteReadingStore, directory))


def test_a_killed_child_is_started_again_with_everything_written(
    process_store: ProcessStore, caplog: pytest.LogCaptureFixture
) -> None:
    process_store.write(readings("a", 50))
    child = process_store._process
    os.kill(child.pid, signal.SIGKILL)
    child.join(5)
    with caplog.at_level(logging.ERROR, logger="hub.store.process"):
        process_store.write(readings("a", 10, start=50))
    assert "exited with code -9; starting it again" in caplog.text
    assert process_store._process.pid != child.pid
    points = process_store.query("a", "temperature", T0, T0 + 1e6)
    assert [ts for ts, _ in points] == [T0 + i * 10 for i in range(60)]


def write_until_it_fails(store: ProcessStore) -> None:
    for start in range(0, 20_000_000, 2_000):  # until a kill lands in the middle of one
        store.write(readings("a", 2_000, start=start))


def test_a_child_dying_mid_call_is_a_clear_error(process_store: ProcessStore) -> None:
    """The child dies while the call waits for its answer: the caller hears so at once
    (the writer then retries, and the retry starts a new child)."""
    stop = threading.Event()

    def kill_soon() -> None:
        # Again and again: a kill that lands between two calls is only a restart.
        while not stop.wait(0.2):
            with contextlib.suppress(ProcessLookupError):
                os.kill(process_store._process.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_soon)
    killer.start()
    try:
        with pytest.raises(StoreProcessError, match="died"):
            write_until_it_fails(process_store)
    finally:
        stop.set()
        killer.join()
    process_store.write(readings("b", 1))
    assert process_store.metrics_of("b") == ["temperature"]


def test_queries_run_alongside_a_write(process_store: ProcessStore) -> None:
    """As in one process: each answer holds every reading written before it, maybe part of
    the write in flight, and none twice."""
    process_store.write(readings("a", 100))
    seen: list[list[float]] = []

    def query_while_writing() -> None:
        for _ in range(50):
            seen.append([ts for ts, _ in process_store.query("a", "temperature", T0, T0 + 1e9)])

    thread = threading.Thread(target=query_while_writing)
    thread.start()
    for start in range(100, 1_100, 100):
        process_store.write(readings("a", 100, start=start))
    thread.join()
    sizes = [len(stamps) for stamps in seen]
    assert sizes == sorted(sizes)
    assert sizes[0] >= 100
    for stamps in seen:
        assert stamps == [T0 + i * 10 for i in range(len(stamps))]


def test_prune_runs_in_the_child(tmp_path: Path) -> None:
    store = ProcessStore(partial(SqliteReadingStore, tmp_path / "r.db", chunk_points=4,
                                 retention=Retention(raw_s=3600, minute_s=7200, hour_s=86400)))
    try:
        store.write(readings("a", 40))
        pruned = store.prune(T0 + 10 * 86400)
        assert pruned.readings > 0
    finally:
        store.close()


def test_closed_means_closed(process_store: ProcessStore) -> None:
    process_store.close()
    process_store.close()
    with pytest.raises(StoreProcessError, match="closed"):
        process_store.count()
