"""The one thread that writes readings: small submissions in, large store.write() batches out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque

from hub.cpu import run_on_idle_cpu
from hub.store.base import ReadingStore, ReadingTuple

logger = logging.getLogger(__name__)

_FIRST_RETRY_DELAY_S = 0.05
_MAX_RETRY_DELAY_S = 5.0


class ReadingWriter:
    """Batching writer: one background thread, fed through a bounded queue.

    Submissions are merged into store.write() calls of up to `max_batch` readings, which is
    where the speed comes from. A failing write is retried with backoff; nothing is dropped,
    so a store that stays broken fills the queue and submit() then waits (backpressure).
    """

    def __init__(
        self, store: ReadingStore, *, max_pending: int = 200_000, max_batch: int = 20_000,
        idle_cpu: bool = False,
    ) -> None:
        """`idle_cpu`: the thread runs only on cores nothing else wants (hub.cpu). The hub
        sets it: the thread's pickling then never holds a core the loop is waiting for.
        Should it hold the GIL when the loop wants it, the loop sleeps and so frees a core
        for it: the wait stays bounded."""
        self._store = store
        self._idle_cpu = idle_cpu
        self._max_pending = max_pending
        self._max_batch = max_batch
        self._changed = threading.Condition()  # guards every field below
        self._queue: deque[list[ReadingTuple]] = deque()
        self._pending = 0  # queued plus the batch being written
        self._accepted = 0
        self._written = 0
        self._failures = 0
        self._failing = False
        self._latencies: deque[float] = deque(maxlen=1024)
        self._last_write_seconds = 0.0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("reading writer already started")
        self._thread = threading.Thread(target=self._run, name="reading-writer", daemon=True)
        self._thread.start()

    def submit_nowait(self, readings: list[ReadingTuple]) -> bool:
        """Queue readings; False when that would exceed max_pending (nothing is queued then)."""
        with self._changed:
            return self._enqueue(readings)

    async def submit(self, readings: list[ReadingTuple]) -> None:
        """Queue readings, waiting (without blocking the loop) while the queue is full."""
        while True:
            with self._changed:
                if self._enqueue(readings):
                    return
                progress = self._wait_for_progress()
            await progress

    def _enqueue(self, readings: list[ReadingTuple]) -> bool:
        if self._stopping:
            raise RuntimeError("reading writer is stopped")
        # An oversized submission is accepted on an empty queue, or it could never fit.
        if self._pending and self._pending + len(readings) > self._max_pending:
            return False
        if readings:
            self._queue.append(readings)
            self._pending += len(readings)
            self._accepted += len(readings)
            self._changed.notify()
        return True

    async def flush(self) -> None:
        """Wait until every reading submitted before this call is written."""
        with self._changed:
            target = self._accepted
        while True:
            with self._changed:
                if self._written >= target:
                    return
                if self._thread is None or not self._thread.is_alive():
                    raise RuntimeError("reading writer is not running; flush would never end")
                progress = self._wait_for_progress()
            await progress

    def _wait_for_progress(self) -> asyncio.Future[None]:
        """A future resolved after the next batch is written; call with the lock held."""
        loop = asyncio.get_running_loop()
        progress: asyncio.Future[None] = loop.create_future()
        self._waiters.append((loop, progress))
        return progress

    def stop(self, timeout: float = 30) -> None:
        """Write everything queued, then end the thread. The store stays open."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error(
                "Reading writer did not drain within %.0fs; %d readings not written",
                timeout,
                self.pending,
            )

    @property
    def pending(self) -> int:
        """Readings queued or being written: the store queue depth."""
        with self._changed:
            return self._pending

    @property
    def written(self) -> int:
        with self._changed:
            return self._written

    @property
    def failures(self) -> int:
        """store.write() calls that raised; each failed batch was retried, not dropped."""
        with self._changed:
            return self._failures

    @property
    def failing(self) -> bool:
        """The latest write attempt failed: the store is down and readings are queueing."""
        with self._changed:
            return self._failing

    @property
    def last_write_seconds(self) -> float:
        with self._changed:
            return self._last_write_seconds

    def write_latency_samples(self) -> list[float]:
        """Durations of the batches written since the last call (at most 1024), in seconds.

        Each duration is handed out once, so a caller can observe them into a histogram.
        """
        with self._changed:
            samples = list(self._latencies)
            self._latencies.clear()
            return samples

    def _run(self) -> None:
        if self._idle_cpu:
            run_on_idle_cpu()
        while batch := self._next_batch():
            elapsed = self._write_until_done(batch)
            with self._changed:
                self._pending -= len(batch)
                self._written += len(batch)
                self._latencies.append(elapsed)
                self._last_write_seconds = elapsed
                waiters, self._waiters = self._waiters, []
            for loop, progress in waiters:
                # A closed loop raises RuntimeError; nobody is waiting there any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, progress)

    def _next_batch(self) -> list[ReadingTuple]:
        """Merge queued submissions up to max_batch; empty once stopping and drained."""
        with self._changed:
            while not self._queue and not self._stopping:
                self._changed.wait()
            batch: list[ReadingTuple] = []
            while self._queue and len(batch) < self._max_batch:
                submission = self._queue.popleft()
                room = self._max_batch - len(batch)
                if len(submission) > room:
                    self._queue.appendleft(submission[room:])
                    submission = submission[:room]
                batch += submission
            return batch

    def _write_until_done(self, batch: list[ReadingTuple]) -> float:
        """Write the batch, retrying with backoff; return how long the successful write took."""
        delay = _FIRST_RETRY_DELAY_S
        while True:
            started = time.perf_counter()
            try:
                self._store.write(batch)
            except Exception as error:  # any store failure is retried, never lost
                with self._changed:
                    self._failures += 1
                    self._failing = True
                logger.warning(
                    "Writing %d readings failed (%s: %s); retrying in %.2fs",
                    len(batch),
                    type(error).__name__,
                    error,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_DELAY_S)
            else:
                with self._changed:
                    self._failing = False
                return time.perf_counter() - started


def _resolve(progress: asyncio.Future[None]) -> None:
    if not progress.done():
        progress.set_result(None)
