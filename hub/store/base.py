"""The contract between the hub and whatever keeps sensor readings on disk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

ReadingTuple = tuple[str, str, float, float]
"""(device_id, metric, ts in epoch seconds, value); booleans are stored as 0.0 / 1.0."""


class ReadingStore(Protocol):
    def write(self, readings: Sequence[ReadingTuple]) -> None:
        """Store readings; called from one writer thread only. Durable when it returns."""

    def query(
        self, device_id: str, metric: str, start: float, end: float, limit: int = 10_000
    ) -> list[tuple[float, float]]:
        """(ts, value) pairs with start <= ts <= end, ascending by ts, the first `limit` of them.

        Callable from any thread, concurrently with write().
        """

    def query_aggregate(
        self, device_id: str, metric: str, start: float, end: float, every_s: float
    ) -> list[tuple[float, float, float, float, int]]:
        """(window start ts, min, max, mean, count) per `every_s` window that has readings.

        Windows are aligned to the epoch (like InfluxQL's GROUP BY time), ascending; the first
        may start before `start`, but only readings with start <= ts <= end are counted.
        Raises ValueError when every_s is under 1 ms. Callable from any thread.
        """

    def metrics_of(self, device_id: str) -> list[str]:
        """Metrics ever stored for the device, sorted."""

    def count(self) -> int:
        """Total readings stored."""

    def close(self) -> None: ...
