"""One-minute roll-ups of the readings the hub stores, forwarded to the command centre.

`RollupBook.add(readings)` is called by ingest with every batch it stores: one dict lookup and
four float updates per reading, keyed by the reading's own minute and (device, metric). Once a
minute `RollupPublisher` takes every finished minute and publishes it on
`shouwang/<site>/rollup/1m` (QoS 1) as

    {"site": "heyuan", "minute": 1700000040, "interval": 60, "part": 1, "parts": 12,
     "series": [["b3-1202-smoke", "battery", min, max, sum, count], ...]}

in parts of at most `max_series` series. A reading that arrives after its minute went out is
published again with that minute: a receiver merges parts of one minute by min / max / sum /
count. On shutdown the unfinished minute goes out too, flagged `"partial": true`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence

import orjson

from devices.topics import rollup_topic
from hub.store.base import ReadingTuple

logger = logging.getLogger(__name__)

INTERVAL_S = 60
GRACE_S = 2.0
"""Wait this long past a minute's end for its last readings before sending it."""

Series = list[float]
"""[min, max, sum, count] of one (device, metric) in one minute."""


class RollupBook:
    def __init__(self) -> None:
        self._minutes: dict[int, dict[tuple[str, str], Series]] = {}
        self.readings = 0

    def add(self, readings: Sequence[ReadingTuple]) -> None:
        minutes = self._minutes
        last_minute = -1
        bucket: dict[tuple[str, str], Series] = {}
        for device_id, metric, ts, value in readings:
            minute = int(ts) // INTERVAL_S
            if minute != last_minute:
                bucket = minutes.get(minute) or minutes.setdefault(minute, {})
                last_minute = minute
            acc = bucket.get((device_id, metric))
            if acc is None:
                bucket[(device_id, metric)] = [value, value, value, 1.0]
                continue
            if value < acc[0]:
                acc[0] = value
            elif value > acc[1]:
                acc[1] = value
            acc[2] += value
            acc[3] += 1.0
        self.readings += len(readings)

    def take(self, before: float) -> list[tuple[int, dict[tuple[str, str], Series]]]:
        """Every minute that ended before `before` (epoch seconds), oldest first."""
        current = int(before) // INTERVAL_S
        done = sorted(m for m in self._minutes if m < current)
        return [(m, self._minutes.pop(m)) for m in done]

    def take_all(self) -> list[tuple[int, dict[tuple[str, str], Series]]]:
        done = sorted(self._minutes)
        return [(m, self._minutes.pop(m)) for m in done]

    @property
    def pending_series(self) -> int:
        return sum(len(b) for b in self._minutes.values())


def rollup_messages(site_id: str, minute: int, bucket: dict[tuple[str, str], Series], *,
                    max_series: int, partial: bool = False) -> list[bytes]:
    """The messages of one minute: its series in parts of at most `max_series`."""
    rows = [[device, metric, acc[0], acc[1], acc[2], int(acc[3])]
            for (device, metric), acc in bucket.items()]
    parts = max(1, -(-len(rows) // max_series))
    out = []
    for i in range(parts):
        message: dict[str, object] = {
            "site": site_id, "minute": minute * INTERVAL_S, "interval": INTERVAL_S,
            "part": i + 1, "parts": parts, "series": rows[i * max_series:(i + 1) * max_series]}
        if partial:
            message["partial"] = True
        out.append(orjson.dumps(message))
    return out


class RollupPublisher:
    """Sends each finished minute of `book` shortly after it ends."""

    def __init__(self, site_id: str, book: RollupBook,
                 publish: Callable[..., bool], now: Callable[[], float], *,
                 max_series: int = 5_000) -> None:
        self._site_id = site_id
        self._book = book
        self._publish = publish
        self._now = now
        self._max_series = max_series
        self.messages = 0
        self.minutes = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_S - self._now() % INTERVAL_S + GRACE_S)
            try:
                self.flush(self._book.take(self._now() - GRACE_S / 2))
            except Exception:
                logger.exception("roll-up publishing failed")

    def flush(self, minutes: Iterable[tuple[int, dict[tuple[str, str], Series]]], *,
              partial_from: int | None = None) -> None:
        topic = rollup_topic(self._site_id)
        for minute, bucket in minutes:
            partial = partial_from is not None and minute >= partial_from
            for payload in rollup_messages(self._site_id, minute, bucket,
                                           max_series=self._max_series, partial=partial):
                self._publish(topic, payload, qos=1)
                self.messages += 1
            self.minutes += 1

    def close(self) -> None:
        """Send what is left, the unfinished minute flagged partial."""
        self.flush(self._book.take_all(), partial_from=int(self._now()) // INTERVAL_S)
