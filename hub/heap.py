"""Short pauses from Python's cycle collector, for a hub that keeps a large state in memory.

The hub holds ~170,000 long-lived objects for a 10,000-device community (the site model,
rule state, store buffers). CPython's full collection walks all of them every few seconds
under heavy ingest, and holds the GIL while it does: measured 90-270 ms pauses, during which
the MQTT inbox backs up and a warning waits behind the backlog.

So, periodically: collect once, then `gc.freeze()` what survived — it is moved out of the
collector's reach and later collections walk only what is newer. Refcounting still frees
frozen objects that are no longer used; only garbage *cycles* among them would linger, so
once an hour everything is unfrozen and collected in full (one longer pause an hour, rather
than one every few seconds).
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass

logger = logging.getLogger(__name__)

FIRST_SETTLE_S = 7.0
"""After start: the site and rules are loaded and most devices have reported once. Odd, so
the settles (every 10 s) never fall on the hub's 5-s device flush: one pause at a time."""
SETTLE_EVERY_S = 10.0
FULL_EVERY_S = 3600.0


@dataclass(slots=True)
class HeapStats:
    settles: int = 0
    full_collections: int = 0
    frozen: int = 0
    """Objects out of the collector's reach, as counted at the first settle and at each full
    collection. Counting walks every frozen object (10 ms for 700,000, on the loop), so the
    settles in between do not count."""
    last_pause_s: float = 0.0
    """How long the last settle or full collection held everything up."""


class HeapKeeper:
    """Call `tick(elapsed)` from a periodic task; `release()` when the hub stops."""

    def __init__(self, *, first_settle_s: float = FIRST_SETTLE_S,
                 settle_every_s: float = SETTLE_EVERY_S,
                 full_every_s: float = FULL_EVERY_S) -> None:
        self._settle_every_s = settle_every_s
        self._full_every_s = full_every_s
        self._since_settle = settle_every_s - first_settle_s
        self._since_full = 0.0
        self.stats = HeapStats()

    def settle(self) -> None:
        """Collect what is young, then freeze everything alive."""
        self._collect_and_freeze(count=self.stats.settles == 0)
        self.stats.settles += 1

    def full(self) -> None:
        """Unfreeze, collect everything (frozen garbage cycles too), freeze again."""
        gc.unfreeze()
        collected = self._collect_and_freeze(count=True)
        self.stats.full_collections += 1
        logger.info("full garbage collection: %d objects freed, %d kept, %.0f ms",
                    collected, self.stats.frozen, self.stats.last_pause_s * 1000)

    def _collect_and_freeze(self, *, count: bool) -> int:
        started = time.perf_counter()
        collected = gc.collect()
        gc.freeze()  # splices the generations' lists: no walk
        if count:
            self.stats.frozen = gc.get_freeze_count()
        self.stats.last_pause_s = time.perf_counter() - started
        return collected

    def tick(self, elapsed_s: float) -> None:
        self._since_settle += elapsed_s
        self._since_full += elapsed_s
        if self._since_full >= self._full_every_s:
            self._since_full = self._since_settle = 0.0
            self.full()
        elif self._since_settle >= self._settle_every_s:
            self._since_settle = 0.0
            self.settle()

    @staticmethod
    def release() -> None:
        """Give everything back to the collector (a hub stopping inside a longer process)."""
        gc.unfreeze()
