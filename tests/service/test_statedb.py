"""hub.db pieces that the end-to-end tests reach only in passing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from hub.statedb import StateDB


def test_device_flush_in_chunks_keeps_every_row(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "hub.db")
    rows = [(f"dev-{i}", 1_700_000_000.0 + i / 7, i % 3 != 0) for i in range(2_345)]
    rows.append(("never-heard", None, False))
    db.save_devices(rows, chunk=1000)
    db.save_devices([("dev-5", 1_800_000_000.5, False)], chunk=1000)  # an update, not a copy
    saved = db.load_devices()
    db.close()
    assert len(saved) == len(rows)
    assert saved["dev-1"] == (1_700_000_000.0 + 1 / 7, True)
    assert saved["dev-3"] == (1_700_000_000.0 + 3 / 7, False)
    assert saved["dev-5"] == (1_800_000_000.5, False)
    assert saved["never-heard"] == (None, False)


def test_the_lock_is_free_between_chunks(tmp_path: Path) -> None:
    """An alert commit waits for one chunk, not for the whole community's devices."""
    db = StateDB(tmp_path / "hub.db")
    rows = [(f"dev-{i}", time.time(), True) for i in range(50_000)]
    waits: list[float] = []
    flushing = threading.Thread(target=db.save_devices, args=(rows,), kwargs={"chunk": 500})
    flushing.start()
    while flushing.is_alive():
        started = time.perf_counter()
        db.load_engine_state()  # takes the same lock, as an outbox commit does
        waits.append(time.perf_counter() - started)
        time.sleep(0.001)
    flushing.join()
    assert len(db.load_devices()) == 50_000
    db.close()
    assert len(waits) > 5, "the other caller got in between the chunks"
