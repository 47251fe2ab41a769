"""The levels of detail behind aggregate queries, and the numpy arithmetic of buckets:
which level answers which part of a query (raw points, 1-minute or 1-hour roll-ups), and
how points become minute and hour buckets when a chunk is sealed. Pure: no SQLite here;
`hub/store/sqlite_readings.py` stores and reads what this computes (docs/storage.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

Int64s = npt.NDArray[np.int64]
Float64s = npt.NDArray[np.float64]

RAW, MINUTE, HOUR = 0, 1, 2
"""Levels of detail: raw points (sealed chunks and open buffers), 1-minute and 1-hour buckets."""
LEVEL_MS = (1, 60_000, 3_600_000)
FAR_MS = 1 << 62  # stands in for minus / plus infinity on the ms axis

MINUTE_BUCKET = np.dtype(
    [("start", "<i8"), ("low", "<f8"), ("high", "<f8"), ("total", "<f8"), ("count", "<i4")]
)
"""One minute's aggregate as packed in a rollup_1m row's blob."""
MinuteRow = tuple[int, int, int, int, int, int, bytes]
HourRow = tuple[int, int, float, float, float, int]
"""(series, bucket_ms, min, max, sum, n): one rollup_1h upsert."""


# ------------------------------------------------------------------ which level answers what


@dataclass(frozen=True, slots=True)
class Piece:
    """Part of an aggregate query answered from one level: [lo_ms, hi_ms) on the time axis.

    A roll-up piece whose ends are not on its bucket grid (only at the ends of a range whose
    finer levels were pruned) takes the whole buckets it overlaps.
    """

    level: int
    lo_ms: int
    hi_ms: int

    @property
    def domain(self) -> tuple[int, int]:
        """[lo, hi) of the points this piece counts: its range widened to whole buckets."""
        width = LEVEL_MS[self.level]
        return self.lo_ms - self.lo_ms % width, -(-self.hi_ms // width) * width


def plan_aggregate(lo_ms: int, hi_ms: int, every_ms: int, horizons: Sequence[int]) -> list[Piece]:
    """Split [lo_ms, hi_ms) into pieces, each answered from the coarsest level that fits.

    A level fits a window of `every_ms` when its bucket divides it, so buckets re-bucket exactly
    into epoch-aligned windows. The range is cut where whole buckets of that level begin and end;
    the rest, at each end, goes to finer levels, down to raw points. `horizons` (raw, minute)
    say where pruning left a level incomplete: before the raw horizon only roll-ups answer,
    before the minute horizon only hourly ones. Both horizons are hour-aligned.
    """
    preferred = next(level for level in (HOUR, MINUTE, RAW) if every_ms % LEVEL_MS[level] == 0)
    raw_horizon = horizons[RAW]
    minute_horizon = min(horizons[MINUTE], raw_horizon)
    zones = ((HOUR, -FAR_MS, minute_horizon), (MINUTE, minute_horizon, raw_horizon),
             (RAW, raw_horizon, FAR_MS))
    pieces: list[Piece] = []
    for finest, zone_lo, zone_hi in zones:
        lo, hi = max(lo_ms, zone_lo), min(hi_ms, zone_hi)
        if lo < hi:
            pieces += _cover(lo, hi, max(preferred, finest), finest)
    return pieces


def _cover(lo: int, hi: int, level: int, finest: int) -> list[Piece]:
    if level == finest:
        return [Piece(level, lo, hi)]
    width = LEVEL_MS[level]
    first, last = -(-lo // width) * width, hi // width * width
    if first >= last:
        return _cover(lo, hi, level - 1, finest)
    head = _cover(lo, first, level - 1, finest) if lo < first else []
    tail = _cover(last, hi, level - 1, finest) if last < hi else []
    return [*head, Piece(level, first, last), *tail]


# ------------------------------------------------------------------ buckets, in numpy


@dataclass(frozen=True, slots=True)
class Buckets:
    """Aggregates (min, max, sum, count) keyed by (group, bucket start in ms), column-wise."""

    group: Int64s  # a series, or a chunk: buckets merge only within their group
    start: Int64s
    low: Float64s
    high: Float64s
    total: Float64s
    count: Int64s

    @classmethod
    def of_points(cls, group: Int64s, ts: Int64s, vals: Float64s) -> Buckets:
        return cls(group, ts, vals, vals, vals, np.ones(len(ts), np.int64))

    @classmethod
    def of_minutes(cls, records: npt.NDArray[np.void]) -> Buckets:
        return cls(np.zeros(len(records), np.int64), records["start"], records["low"],
                   records["high"], records["total"], records["count"].astype(np.int64))

    @classmethod
    def concat(cls, parts: list[Buckets]) -> Buckets:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def merged(self, width_ms: int, *, grouped: bool = False) -> Buckets:
        """Re-bucket to epoch-aligned buckets of width_ms, merging all with the same key.

        `grouped`: equal keys are already adjacent (sorted by group, then start), skip sorting.
        """
        start = self.start - self.start % width_ms
        group, low, high, total, count = self.group, self.low, self.high, self.total, self.count
        if not grouped:
            order = np.lexsort((start, group))
            group, start, low, high = group[order], start[order], low[order], high[order]
            total, count = total[order], count[order]
        first = np.ones(len(start), bool)
        first[1:] = (group[1:] != group[:-1]) | (start[1:] != start[:-1])
        heads = np.flatnonzero(first)
        if not len(heads):
            return self
        return Buckets(group[heads], start[heads], np.minimum.reduceat(low, heads),
                        np.maximum.reduceat(high, heads), np.add.reduceat(total, heads),
                        np.add.reduceat(count, heads))


def rollups(
    sealed: list[tuple[int, int, Int64s, Float64s]],
) -> tuple[list[MinuteRow], list[HourRow]]:
    """rollup_1m rows and rollup_1h upsert rows for chunks being sealed.

    `sealed` holds (series, seq, ts, vals) per chunk, each sorted by ts, so equal minutes and
    hours within a chunk are adjacent. An hour key may repeat (two chunks of a series in one
    write): the upsert merges it.
    """
    sizes = [len(ts) for _, _, ts, _ in sealed]
    chunk = np.repeat(np.arange(len(sealed)), sizes)
    points = Buckets.of_points(chunk, np.concatenate([ts for _, _, ts, _ in sealed]),
                                np.concatenate([vals for _, _, _, vals in sealed]))
    minutes = points.merged(LEVEL_MS[MINUTE], grouped=True)
    records = np.empty(len(minutes.start), MINUTE_BUCKET)
    for name in ("start", "low", "high", "total", "count"):
        records[name] = getattr(minutes, name)
    packed, width = records.tobytes(), MINUTE_BUCKET.itemsize
    cuts = np.searchsorted(minutes.group, np.arange(len(sealed) + 1)).tolist()
    starts = minutes.start.tolist()
    rows = [(series_id, starts[first], seq, starts[last - 1], size, last - first,
             packed[first * width:last * width])
            for (series_id, seq, _, _), size, first, last
            in zip(sealed, sizes, cuts, cuts[1:], strict=False)]
    hours = minutes.merged(LEVEL_MS[HOUR], grouped=True)
    series = np.array([series_id for series_id, _, _, _ in sealed], np.int64)[hours.group]
    hour_rows = list(zip(series.tolist(), hours.start.tolist(), hours.low.tolist(),
                         hours.high.tolist(), hours.total.tolist(), hours.count.tolist(),
                         strict=True))
    return rows, hour_rows


def buckets_of_hours(rows: list[tuple[int, float, float, float, int]]) -> Buckets:
    """Buckets of one series from rollup_1h rows (bucket_ms, min, max, sum, n)."""
    table = np.array(rows, np.float64).reshape(-1, 5)  # ms timestamps are exact in float64
    return Buckets(np.zeros(len(table), np.int64), table[:, 0].astype(np.int64), table[:, 1],
                    table[:, 2], table[:, 3], table[:, 4].astype(np.int64))
