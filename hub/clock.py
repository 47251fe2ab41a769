"""Where the hub gets its time. Injected, so tests and drills can drive it."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class SimulatedClock:
    """Time driven by a simulation: set to any moment, running at any speed.

    A scenario at 600x lives a day of an elderly resident's routine in 2.4 minutes, and the
    inactivity and schedule rules see the simulated hours, not the real ones.
    """

    simulated = True

    def __init__(self, start: float | None = None, speed: float = 1.0) -> None:
        self._base = time.time() if start is None else start
        self._real = time.monotonic()
        self.speed = speed

    def now(self) -> float:
        return self._base + (time.monotonic() - self._real) * self.speed

    def set(self, now: float | None = None, speed: float | None = None) -> None:
        """Jump to `now` (never backwards: readings and timers assume time moves on) and/or
        change the speed from here on."""
        current = self.now()
        self._base = current if now is None else max(now, current)
        self._real = time.monotonic()
        if speed is not None:
            self.speed = speed
