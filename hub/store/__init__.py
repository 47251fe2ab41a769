"""Time-series storage for sensor readings: embedded SQLite, or InfluxDB."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Literal

from devices.site import Site
from hub.store.base import ReadingStore, ReadingTuple
from hub.store.process import ProcessStore
from hub.store.sqlite_readings import Retention, SqliteReadingStore
from hub.store.writer import ReadingWriter

__all__ = [
    "ReadingStore",
    "ReadingTuple",
    "ReadingWriter",
    "SqliteReadingStore",
    "open_reading_store",
]


def open_reading_store(
    kind: Literal["sqlite", "influxdb"],
    *,
    data_dir: Path,
    site: Site,
    url: str | None = None,
    org: str = "",
    bucket: str | None = None,
    database: str | None = None,
    token: str | None = None,
    spill_cap_bytes: int = 1 << 30,
    retention: Retention | None = None,
    idle_cpu: bool = True,
) -> ReadingStore:
    """The store the config names: `data_dir/readings.db`, or InfluxDB spilling to
    `data_dir/influx-spill/` while the server is unreachable. Blocks (opens files).
    `idle_cpu`: SQLite's writes run on idle CPU time only (hub.cpu)."""
    if kind == "sqlite":
        # In a process of its own: its write path would otherwise share the hub's GIL.
        return ProcessStore(partial(SqliteReadingStore, data_dir / "readings.db",
                                    retention=retention or Retention()), idle_cpu=idle_cpu)
    if url is None or bucket is None:
        raise ValueError("an influxdb reading store needs url and bucket")
    from hub.store.influx import InfluxReadingStore  # influxdb-client loads only when used

    return InfluxReadingStore(site, url=url, org=org, bucket=bucket, token=token,
                              database=database, spill_dir=data_dir / "influx-spill",
                              spill_cap_bytes=spill_cap_bytes)
