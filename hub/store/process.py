"""A reading store run in a child process of its own, behind the same ReadingStore contract.

Why: the SQLite store's write path is Python (grouping, sealing chunks, roll-ups) between
SQLite steps, and in the hub's process it shared one GIL with the event loop that decodes,
evaluates rules and sends alerts. At 47,500 msg/s the two together needed more than one
GIL's worth of time; the loop stalled whenever chunks sealed, and warnings waited behind it
(docs/delivery-latency.md). In a child process the store has a GIL, and a core, of its own;
the hub's writer thread only pickles a batch and waits on a pipe, which lets go of the GIL.

Two pipes: writes go one at a time on one (durable when the answer comes back, as before);
queries go on the other and are answered by a second thread in the child, alongside writes,
as the store allows. A child that dies is started again by the next call (the store replays
its own log on open), and that call fails with the reason, so the writer retries it.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any, cast

from hub.cpu import run_on_idle_cpu
from hub.store.base import ReadingStore, ReadingTuple
from hub.store.sqlite_readings import Pruned

logger = logging.getLogger(__name__)

STORE_NICENESS = 10
START_TIMEOUT_S = 60.0
"""Opening replays the log of unsealed readings: seconds for a big one."""
_QUERIES = frozenset({"query", "query_aggregate", "metrics_of", "count", "prune"})
_CONTEXT = mp.get_context("forkserver")
# Children fork from a server that has imported the store once, so a start takes
# milliseconds, and never from the hub itself (forking a process with threads is unsafe).
_CONTEXT.set_forkserver_preload(["hub.store.sqlite_readings"])


class StoreProcessError(RuntimeError):
    """The store's process could not start, or died; the message says how."""


class ProcessStore:
    """`ProcessStore(partial(SqliteReadingStore, path, ...))`: the factory runs in the child."""

    def __init__(self, factory: Callable[[], ReadingStore], *, name: str = "readings",
                 idle_cpu: bool = True) -> None:
        """`idle_cpu`: the child writes on idle CPU time only (hub.cpu); reads keep
        niceness 10 either way."""
        self._factory = factory
        self._name = name
        self._idle_cpu = idle_cpu
        self._write_lock = threading.Lock()
        self._query_lock = threading.Lock()
        self._restart_lock = threading.Lock()
        self._closed = False
        self._process: Any = None
        self._writes: Connection | None = None
        self._queries: Connection | None = None
        self._start()

    def _start(self) -> None:
        writes, child_writes = _CONTEXT.Pipe()
        queries, child_queries = _CONTEXT.Pipe()
        process = _CONTEXT.Process(target=_serve, name=f"shouwang-{self._name}-store",
                                   args=(self._factory, child_writes, child_queries,
                                         self._idle_cpu),
                                   daemon=True)
        process.start()
        child_writes.close()
        child_queries.close()
        try:
            status, detail = self._first_word(process, writes)
            if status != "ready":
                process.join(5)
                raise cast(BaseException, detail)
        except BaseException:
            writes.close()
            queries.close()
            raise
        self._process, self._writes, self._queries = process, writes, queries

    @property
    def pid(self) -> int:
        """The child's process id (a new one after a restart)."""
        return int(self._process.pid)

    def _first_word(self, process: Any, writes: Connection) -> tuple[str, Any]:
        if not writes.poll(START_TIMEOUT_S):
            process.kill()
            raise StoreProcessError(f"{self._name} store process did not open its store in "
                                    f"{START_TIMEOUT_S:.0f} s")
        try:
            return cast(tuple[str, Any], writes.recv())
        except EOFError:
            process.join(5)
            raise StoreProcessError(f"{self._name} store process exited with code "
                                    f"{process.exitcode} before opening its store") from None

    def _call(self, request: tuple[str, Any], *, query: bool) -> Any:
        """One request on the query pipe or the write pipe, one caller at a time on each."""
        with self._query_lock if query else self._write_lock:
            if self._closed:
                raise StoreProcessError(f"{self._name} store is closed")
            self._ensure_alive()
            conn = self._queries if query else self._writes
            assert conn is not None
            try:
                conn.send(request)
                status, value = conn.recv()
            except (EOFError, OSError) as error:
                self._process.join(1)
                raise StoreProcessError(
                    f"{self._name} store process died (exit code {self._process.exitcode}) "
                    f"during {request[0]}: {error or type(error).__name__}") from None
        if status == "error":
            raise cast(BaseException, value)
        return value

    def _ensure_alive(self) -> None:
        if self._process.is_alive():
            return
        with self._restart_lock:
            if self._process.is_alive():
                return
            logger.error("%s store process exited with code %s; starting it again",
                         self._name, self._process.exitcode)
            for conn in (self._writes, self._queries):
                if conn is not None:
                    conn.close()
            self._start()

    # ------------------------------------------------------------------ ReadingStore

    def write(self, readings: Sequence[ReadingTuple]) -> None:
        batch = readings if isinstance(readings, list) else list(readings)
        self._call(("write", batch), query=False)

    def query(self, device_id: str, metric: str, start: float, end: float,
              limit: int = 10_000) -> list[tuple[float, float]]:
        request = ("query", (device_id, metric, start, end, limit))
        return cast(list[tuple[float, float]], self._call(request, query=True))

    def query_aggregate(self, device_id: str, metric: str, start: float, end: float,
                        every_s: float) -> list[tuple[float, float, float, float, int]]:
        request = ("query_aggregate", (device_id, metric, start, end, every_s))
        return cast(list[tuple[float, float, float, float, int]],
                    self._call(request, query=True))

    def metrics_of(self, device_id: str) -> list[str]:
        return cast(list[str], self._call(("metrics_of", (device_id,)), query=True))

    def count(self) -> int:
        return cast(int, self._call(("count", ()), query=True))

    def prune(self, now: float) -> Pruned:
        """Retention, in the child (SQLite stores only)."""
        return cast(Pruned, self._call(("prune", (now,)), query=True))

    def close(self) -> None:
        with self._query_lock, self._write_lock:
            if self._closed:
                return
            self._closed = True
            try:
                assert self._writes is not None
                self._writes.send(("close", None))
                self._writes.recv()
            except (EOFError, OSError):
                pass  # already gone: nothing left to close
            self._process.join(30)
            if self._process.is_alive():
                logger.error("%s store process did not exit; killing it", self._name)
                self._process.kill()
            for conn in (self._writes, self._queries):
                if conn is not None:
                    conn.close()


# ---------------------------------------------------------------------- the child


def _serve(factory: Callable[[], ReadingStore], writes: Connection, queries: Connection,
           idle_cpu: bool) -> None:
    # Storing is bulk work with a deep queue in front; when cores are short, the hub's loop
    # (warnings) and the broker go first.
    os.nice(STORE_NICENESS)
    try:
        store = factory()
    except BaseException as error:  # the parent raises it: say why the store did not open
        writes.send(("error", _sendable(error)))
        return
    writes.send(("ready", None))
    threading.Thread(target=_answer_queries, args=(store, queries), daemon=True,
                     name="store-queries").start()
    if idle_cpu:
        # Writes only: the query thread, started above, keeps niceness 10, so the
        # dashboard's charts do not wait for an idle core.
        run_on_idle_cpu()
    while True:
        try:
            op, readings = writes.recv()
        except EOFError:  # the hub is gone without closing: close the file cleanly
            store.close()
            return
        if op == "close":
            store.close()
            writes.send(("ok", None))
            return
        try:
            store.write(readings)
        except Exception as error:
            writes.send(("error", _sendable(error)))
        else:
            writes.send(("ok", None))


def _answer_queries(store: ReadingStore, queries: Connection) -> None:
    while True:
        try:
            op, args = queries.recv()
        except (EOFError, OSError):
            return
        try:
            if op not in _QUERIES:
                raise ValueError(f"not a store query: {op}")
            result = getattr(store, op)(*args)
        except Exception as error:
            queries.send(("error", _sendable(error)))
        else:
            queries.send(("ok", result))


def _sendable(error: BaseException) -> BaseException:
    """The error itself when it pickles (a ValueError stays a ValueError for the API), else
    its text in a StoreProcessError."""
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301  (our own object, just pickled)
    except Exception:
        return StoreProcessError(f"{type(error).__name__}: {error}")
    return error
