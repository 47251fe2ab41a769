"""Sliding windows of one series, kept in numpy ring buffers.

A buffer holds the last `capacity` (ts, value) points; statistics are taken over the points
inside a time window. Fixed-size float64 arrays keep the state per device small and
predictable (16 bytes a point), which matters with 25,000 devices in one hub.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class RingBuffer:
    __slots__ = ("_count", "_next", "ts", "values")

    def __init__(self, capacity: int) -> None:
        self.ts: npt.NDArray[np.float64] = np.zeros(capacity)
        self.values: npt.NDArray[np.float64] = np.zeros(capacity)
        self._next = 0
        self._count = 0

    def append(self, ts: float, value: float) -> None:
        i = self._next
        self.ts[i] = ts
        self.values[i] = value
        self._next = (i + 1) % len(self.ts)
        if self._count < len(self.ts):
            self._count += 1

    def __len__(self) -> int:
        return self._count

    def since(self, start: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Points with ts >= start, in no particular order (statistics don't need it)."""
        n = self._count
        ts, values = self.ts[:n], self.values[:n]
        keep = ts >= start
        return ts[keep], values[keep]

    def to_lists(self) -> tuple[list[float], list[float]]:
        """Oldest first, for snapshots."""
        n, cap = self._count, len(self.ts)
        order = [(self._next - n + i) % cap for i in range(n)]
        return [float(self.ts[i]) for i in order], [float(self.values[i]) for i in order]


def slope_per_minute(ts: npt.NDArray[np.float64], values: npt.NDArray[np.float64]
                     ) -> float | None:
    """Least-squares slope in units per minute; None without enough spread in time."""
    if len(ts) < 3:
        return None
    t = ts - ts.mean()
    spread = float((t * t).sum())
    if spread < 1e-9:
        return None
    return float((t * (values - values.mean())).sum()) / spread * 60.0


def zscore(value: float, values: npt.NDArray[np.float64]) -> float | None:
    """How many standard deviations `value` lies from the window's mean."""
    if len(values) < 2:
        return None
    std = float(values.std())
    mean = float(values.mean())
    if std < 1e-12:
        return None if value == mean else float("inf")
    return abs(value - mean) / std
