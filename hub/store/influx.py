"""Readings in InfluxDB (or any engine that takes /api/v2/write): line protocol out, InfluxQL in.

Schema (docs/influxdb.md has the cardinality figures and the Grafana side):

    measurement  the device kind: `smoke_detector`, `gas_detector`, ... (`unregistered` for a
                 device id the site does not know; the hub's ingest never stores such readings)
    tags         site, grid, building, floor, unit, device: ids from the site file; a tag the
                 device's place lacks is left out (a building's fire pump has no floor or unit)
    fields       the metrics of one message: the readings of one device with one timestamp are
                 one line with several fields; every value is a float (booleans 0.0 / 1.0)
    timestamp    epoch milliseconds (`precision=ms`)

Writes: line protocol is built here, as text (escaping done once per device, in a cached tag
prefix), and handed to influxdb-client's synchronous WriteApi as bytes: POST /api/v2/write,
gzip on. Serialising through `Point` is several times slower.

Spill: a write the server does not take (connection refused, timeout, 408, 429, 5xx) goes to an
on-disk buffer (`spill.db`, SQLite in WAL mode, fsync'd per batch: survives kill -9) and write()
returns, so ingest goes on. While the buffer holds anything, new batches are appended behind it
(order kept), and write() replays it oldest first, at most every `retry_min_s`..`retry_max_s`
(doubling) and for at most `replay_budget_s` per call, deleting a batch only once the server
acknowledged it. A batch the server may have taken before the connection broke is sent again:
InfluxDB overwrites the same point, VictoriaMetrics keeps both unless deduplication is on.
When the buffer would pass `spill_cap_bytes`, write() raises SpillFullError (and logs an
ERROR): the hub's writer retries with backoff and its queue fills up — backpressure, no loss.

4xx answers that retrying cannot fix: 401 / 403 / 404 (token, org or bucket wrong) keep the
batch spilled and replay waits `retry_max_s` between attempts, logging an ERROR with the server's
message each time, until an operator fixes the token or creates the bucket. Any other 4xx
(400 bad line protocol or field type conflict, 413, 422 outside retention) refuses that batch
only: it is moved to the `refused` table of spill.db for an operator to inspect, logged as an
ERROR and counted, and the batches behind it go on. Nothing is deleted without an acknowledgement;
`dropped_total` counts only readings that cannot be written at all (NaN, infinities, ids line
protocol cannot carry).

Reads: InfluxQL over the v1-compatible GET /query (db = `database` or the bucket, epoch=ms),
which InfluxDB 1.x, 2.x (with a DBRP mapping) and 3 all answer. Flux is not used.
"""

from __future__ import annotations

import fcntl
import logging
import math
import re
import sqlite3
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any

import httpx
import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from devices.site import DeviceInfo, Site
from hub.store.base import ReadingTuple

logger = logging.getLogger(__name__)

UNREGISTERED = "unregistered"
"""Measurement of a device the site does not know (tags: site and device only)."""

_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
# A backslash before an escapable character, or at the end, cannot be written in line protocol.
_UNWRITABLE = re.compile(r"[\n\r]|\\[ ,=]|\\$")
_MAX_MS = 9_223_372_036_853  # InfluxDB's time range ends in 2262
_RETRYABLE_4XX = frozenset({408, 429})
_CONFIG_4XX = frozenset({401, 403, 404})


class SpillFullError(RuntimeError):
    """The spill buffer is at its cap: the batch was not stored, the caller must retry later."""


class InfluxQueryError(RuntimeError):
    """An InfluxQL read failed: the server was unreachable or answered with an error."""


# ------------------------------------------------------------------------------ line protocol


def _writable(text: str, what: str) -> str:
    if not text or _UNWRITABLE.search(text):
        raise ValueError(f"{what} {text!r} cannot be written as line protocol (empty, a line "
                         "break, or a backslash before ' ', ',' or '=' or at the end)")
    return text


def tag_prefix(measurement: str, tags: dict[str, str]) -> str:
    """`measurement,tag=value,... ` (trailing space): tags sorted by key, empty ones left out."""
    parts = [_writable(measurement, "measurement").translate(_MEASUREMENT_ESCAPES)]
    for key in sorted(tags):
        if value := tags[key]:
            parts.append(f"{key.translate(_KEY_ESCAPES)}="
                         f"{_writable(value, f'tag {key}').translate(_KEY_ESCAPES)}")
    return ",".join(parts) + " "


def device_tags(site: Site, device: DeviceInfo) -> dict[str, str]:
    place = device.place
    return {
        "site": site.id,
        "grid": place.grid,
        "building": place.building or "",
        "floor": "" if place.floor is None else str(place.floor),
        "unit": place.unit or "",
        "device": device.id,
    }


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    body: bytes
    readings: int  # readings in body
    lines: int
    dropped: int  # readings that cannot be written (non-finite value, unwritable id)


class LineEncoder:
    """Readings to line protocol for one site; the tag prefix of each device is built once."""

    def __init__(self, site: Site) -> None:
        self._site = site
        self._prefixes: dict[str, str] = {
            device.id: tag_prefix(device.kind.name, device_tags(site, device))
            for device in site.devices.values()
        }
        self._field_keys: dict[str, str] = {}

    def measurement_of(self, device_id: str) -> str:
        device = self._site.devices.get(device_id)
        return device.kind.name if device is not None else UNREGISTERED

    def _unregistered_prefix(self, device_id: str) -> str:
        try:
            prefix = tag_prefix(UNREGISTERED, {"site": self._site.id, "device": device_id})
        except ValueError as error:
            logger.error("Dropping readings of device %r: %s", device_id, error)
            prefix = ""
        else:
            logger.warning("Device %r is not in site %s: its readings go to measurement %r",
                           device_id, self._site.id, UNREGISTERED)
        self._prefixes[device_id] = prefix
        return prefix

    def _field_key(self, metric: str) -> str:
        try:
            key = _writable(metric, "metric").translate(_KEY_ESCAPES)
        except ValueError as error:
            logger.error("Dropping readings of metric %r: %s", metric, error)
            key = ""
        self._field_keys[metric] = key
        return key

    def encode(self, readings: Sequence[ReadingTuple]) -> EncodedBatch:
        """One line per run of readings with the same device and timestamp (one message)."""
        prefixes, field_keys, isfinite = self._prefixes, self._field_keys, math.isfinite
        lines: list[str] = []
        fields: dict[str, str] = {}
        line_device, line_ms, line_prefix = "", 0, ""
        dropped = 0
        for device_id, metric, ts, raw in readings:
            # A bool or an int would be written as a bool or an integer field: make it a float.
            value = raw if raw.__class__ is float else float(raw)
            key = field_keys.get(metric)
            if key is None:
                key = self._field_key(metric)
            ts_ms = round(ts * 1000)
            if ts_ms != line_ms or device_id != line_device:
                if fields:
                    lines.append(line_prefix + ",".join([k + "=" + v for k, v in fields.items()])
                                 + " " + str(line_ms))
                    fields = {}
                line_device, line_ms = device_id, ts_ms
                line_prefix = prefixes.get(device_id) or self._unregistered_prefix(device_id)
            if not (key and line_prefix and isfinite(value)):
                dropped += 1
                continue
            fields[key] = repr(value)  # the same metric twice in one message: the last one
        if fields:
            lines.append(line_prefix + ",".join([k + "=" + v for k, v in fields.items()])
                         + " " + str(line_ms))
        body = "\n".join(lines).encode()
        return EncodedBatch(body, len(readings) - dropped, len(lines), dropped)


# ------------------------------------------------------------------------------ spill buffer

_SPILL_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY,         -- replay order
    body BLOB NOT NULL,             -- zlib-compressed line protocol
    readings INTEGER NOT NULL,
    spilled_at REAL NOT NULL        -- epoch seconds
);
CREATE TABLE IF NOT EXISTS refused (
    id INTEGER PRIMARY KEY,
    body BLOB NOT NULL,             -- zlib-compressed line protocol
    readings INTEGER NOT NULL,
    status INTEGER NOT NULL,        -- the HTTP status the server answered
    message TEXT NOT NULL,          -- and its message
    refused_at REAL NOT NULL
);
"""


class _SpillBuffer:
    """Batches not yet acknowledged, oldest first, in one SQLite file; one process at a time.

    Sizes are the compressed bodies: the cap bounds `pending` and `refused` together.
    """

    def __init__(self, directory: Path, cap_bytes: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "spill.db"
        self.cap_bytes = cap_bytes
        self._lock_file: IO[bytes] = (directory / "spill.lock").open("ab")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise RuntimeError(f"spill directory {directory} is in use by another process "
                               "(two hubs must not share one)") from None
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")  # a spilled batch survives power loss
            self._db.executescript(_SPILL_SCHEMA)
            count, size = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM pending").fetchone()
            refused_count, refused_size = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM refused").fetchone()
        except BaseException:
            self._db.close()
            self._lock_file.close()
            raise
        self.batches: int = count
        self.bytes: int = size
        self.refused_batches: int = refused_count
        self.refused_bytes: int = refused_size

    def _make_room(self, size: int) -> None:
        used = self.bytes + self.refused_bytes
        if used + size > self.cap_bytes:
            raise SpillFullError(
                f"spill buffer {self.path} is full: {used:,} of {self.cap_bytes:,} bytes used, "
                f"a batch of {size:,} more refused")

    def append(self, body: bytes, readings: int) -> None:
        packed = zlib.compress(body, 1)
        self._make_room(len(packed))
        self._db.execute("INSERT INTO pending (body, readings, spilled_at) VALUES (?, ?, ?)",
                         (packed, readings, time.time()))
        self.batches += 1
        self.bytes += len(packed)

    def oldest(self) -> tuple[int, bytes, int] | None:
        row = self._db.execute(
            "SELECT id, body, readings FROM pending ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        batch_id, packed, readings = row
        return batch_id, zlib.decompress(packed), readings

    def remove(self, batch_id: int) -> None:
        (size,) = self._db.execute(
            "DELETE FROM pending WHERE id = ? RETURNING LENGTH(body)", (batch_id,)).fetchone()
        self.batches -= 1
        self.bytes -= size

    def refuse_pending(self, batch_id: int, status: int, message: str) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            (size,) = db.execute(
                "INSERT INTO refused (body, readings, status, message, refused_at)"
                " SELECT body, readings, ?, ?, ? FROM pending WHERE id = ?"
                " RETURNING LENGTH(body)", (status, message, time.time(), batch_id)).fetchone()
            db.execute("DELETE FROM pending WHERE id = ?", (batch_id,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.batches -= 1
        self.bytes -= size
        self.refused_batches += 1
        self.refused_bytes += size

    def refuse_new(self, body: bytes, readings: int, status: int, message: str) -> None:
        packed = zlib.compress(body, 1)
        self._make_room(len(packed))
        self._db.execute(
            "INSERT INTO refused (body, readings, status, message, refused_at)"
            " VALUES (?, ?, ?, ?, ?)", (packed, readings, status, message, time.time()))
        self.refused_batches += 1
        self.refused_bytes += len(packed)

    def close(self) -> None:
        self._db.close()
        self._lock_file.close()  # releases the flock


# ------------------------------------------------------------------------------ the store


class _Failure(Enum):
    RETRY = "retry"  # the server is unreachable or busy: keep the batch, try again later
    CONFIG = "config"  # 401/403/404: nothing will get through until an operator acts
    REFUSED = "refused"  # another 4xx: this batch will never be taken


@dataclass(frozen=True, slots=True)
class _WriteError:
    failure: _Failure
    status: int
    message: str


def _classify(error: Exception) -> _WriteError:
    if isinstance(error, ApiException) and error.status:
        status = int(error.status)
        message = str(getattr(error, "message", "") or error.reason or "").strip()
        if status in _CONFIG_4XX:
            return _WriteError(_Failure.CONFIG, status, message)
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            return _WriteError(_Failure.REFUSED, status, message)
        return _WriteError(_Failure.RETRY, status, message)
    return _WriteError(_Failure.RETRY, 0, f"{type(error).__name__}: {error}")


def _quote_string(text: str) -> str:
    """An InfluxQL string literal."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def _quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _ms(ts: float) -> int:
    return max(-_MAX_MS, min(_MAX_MS, round(ts * 1000)))


class InfluxReadingStore:
    """ReadingStore on InfluxDB: write() from one thread, reads from any (see module doc)."""

    def __init__(
        self,
        site: Site,
        *,
        url: str,
        org: str,
        bucket: str,
        token: str | None,
        database: str | None = None,
        spill_dir: Path,
        spill_cap_bytes: int = 1 << 30,
        timeout_s: float = 10.0,
        retry_min_s: float = 1.0,
        retry_max_s: float = 30.0,
        replay_budget_s: float = 2.0,
    ) -> None:
        self._site = site
        self._url = url.rstrip("/")
        self._org, self._bucket = org, bucket
        self._database = database or bucket
        self._retry_min_s, self._retry_max_s = retry_min_s, retry_max_s
        self._replay_budget_s = replay_budget_s
        self._encoder = LineEncoder(site)
        self._client = InfluxDBClient(url=self._url, token=token or "", org=org,
                                      timeout=round(timeout_s * 1000), enable_gzip=True)
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        headers = {"Authorization": f"Token {token}"} if token else {}
        self._http = httpx.Client(base_url=self._url, headers=headers, timeout=timeout_s)
        try:
            self._spill = _SpillBuffer(spill_dir, spill_cap_bytes)
        except BaseException:
            self._http.close()
            self._client.close()  # type: ignore[no-untyped-call]
            raise
        self._close_lock = threading.Lock()
        self._closed = False
        self._delay_s = retry_min_s
        self._next_attempt = 0.0  # time.monotonic() of the next replay attempt
        self._failing = False
        self._spilled_total = 0
        self._replayed_total = 0
        self._dropped_total = 0
        self._refused_total = 0
        self._rejections_total = 0
        if self._spill.batches:
            logger.warning("Spill buffer %s holds %d batches (%d bytes) from an earlier run; "
                           "replaying them before new readings", self._spill.path,
                           self._spill.batches, self._spill.bytes)

    # -------------------------------------------------------------- figures for the metrics

    @property
    def backlog_bytes(self) -> int:
        """Compressed size of the batches waiting in the spill buffer."""
        return self._spill.bytes

    @property
    def backlog_batches(self) -> int:
        return self._spill.batches

    @property
    def spilled_total(self) -> int:
        """Readings put into the spill buffer by this process."""
        return self._spilled_total

    @property
    def replayed_total(self) -> int:
        """Readings from the spill buffer that the server acknowledged."""
        return self._replayed_total

    @property
    def dropped_total(self) -> int:
        """Readings that cannot be written at all (non-finite values, unwritable ids)."""
        return self._dropped_total

    @property
    def refused_total(self) -> int:
        """Readings in batches the server refused for good (kept in spill.db's `refused`)."""
        return self._refused_total

    @property
    def refused_batches(self) -> int:
        return self._spill.refused_batches

    @property
    def rejections_total(self) -> int:
        """Write requests answered with a 4xx that retrying cannot fix."""
        return self._rejections_total

    @property
    def failing(self) -> bool:
        """The latest write attempt did not reach the database; readings go to the spill."""
        return self._failing

    # -------------------------------------------------------------- writes

    def write(self, readings: Sequence[ReadingTuple]) -> None:
        """Send the batch, or spill it; raises SpillFullError only when the buffer is full."""
        batch = self._encoder.encode(readings)
        if batch.readings:
            self._store(batch)
        if batch.dropped:
            self._dropped_total += batch.dropped
            logger.warning("Dropped %d readings that line protocol cannot carry (NaN, infinity "
                           "or an unwritable id)", batch.dropped)

    def _store(self, batch: EncodedBatch) -> None:
        spill = self._spill
        if spill.batches and time.monotonic() >= self._next_attempt:
            self._replay()
        if not spill.batches:
            error = self._post(batch.body)
            if error is None:
                self._recovered()
                return
            if error.failure is _Failure.REFUSED:
                spill.refuse_new(batch.body, batch.readings, error.status, error.message)
                self._refused(batch.readings, error)
                return
            self._attempt_failed(error)
        try:
            spill.append(batch.body, batch.readings)
        except SpillFullError as full:
            logger.error("%s: the store writer will retry and ingest backs up until InfluxDB "
                         "at %s takes writes again", full, self._url)
            raise
        self._spilled_total += batch.readings

    def _post(self, body: bytes) -> _WriteError | None:
        try:
            self._write_api.write(bucket=self._bucket, org=self._org, record=body,
                                  write_precision=WritePrecision.MS)  # type: ignore[arg-type]
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            return _classify(error)
        return None

    def _replay(self) -> None:
        """Send spilled batches, oldest first, until empty, a failure or the time budget."""
        spill = self._spill
        deadline = time.monotonic() + self._replay_budget_s
        replayed = 0
        while (oldest := spill.oldest()) is not None:
            batch_id, body, readings = oldest
            error = self._post(body)
            if error is None:
                spill.remove(batch_id)
                self._replayed_total += readings
                replayed += readings
            elif error.failure is _Failure.REFUSED:
                spill.refuse_pending(batch_id, error.status, error.message)
                self._refused(readings, error)
            else:
                self._attempt_failed(error)
                break
            if time.monotonic() >= deadline:
                break
        if replayed:
            logger.info("Replayed %d spilled readings to InfluxDB at %s; %d batches (%d bytes) "
                        "still spilled", replayed, self._url, spill.batches, spill.bytes)
        if not spill.batches:
            self._recovered()

    def _attempt_failed(self, error: _WriteError) -> None:
        if error.failure is _Failure.CONFIG:
            self._rejections_total += 1
            self._delay_s = self._retry_max_s
            logger.error(
                "InfluxDB at %s rejected a write with HTTP %d: %s. Check store.url, org and "
                "bucket and SHOUWANG_INFLUX_TOKEN; readings stay in the spill buffer %s and the "
                "write is retried every %.0fs", self._url, error.status, error.message,
                self._spill.path, self._delay_s)
        elif not self._failing:
            logger.warning("Writing to InfluxDB at %s failed (%s%s); spilling readings to %s "
                           "until it takes writes again", self._url,
                           f"HTTP {error.status}: " if error.status else "", error.message,
                           self._spill.path)
        else:
            logger.debug("InfluxDB at %s still failing: %s", self._url, error.message)
        self._failing = True
        self._next_attempt = time.monotonic() + self._delay_s
        self._delay_s = min(self._delay_s * 2, self._retry_max_s)

    def _refused(self, readings: int, error: _WriteError) -> None:
        self._rejections_total += 1
        self._refused_total += readings
        logger.error("InfluxDB at %s refused a batch of %d readings with HTTP %d: %s. The batch "
                     "is kept in the `refused` table of %s; later batches go on", self._url,
                     readings, error.status, error.message, self._spill.path)

    def _recovered(self) -> None:
        if self._failing:
            logger.info("InfluxDB at %s takes writes again; the spill buffer is empty", self._url)
        self._failing = False
        self._delay_s = self._retry_min_s
        self._next_attempt = 0.0

    # -------------------------------------------------------------- reads (InfluxQL)

    def _where(self, device_id: str) -> str:
        return (f"{_quote_ident('site')} = {_quote_string(self._site.id)}"
                f" AND {_quote_ident('device')} = {_quote_string(device_id)}")

    def _select(self, statement: str) -> list[dict[str, Any]]:
        """Run one InfluxQL statement; return its series (name, columns, values)."""
        try:
            response = self._http.get("/query", params={
                "db": self._database, "q": statement, "epoch": "ms"})
        except httpx.HTTPError as error:
            raise InfluxQueryError(f"InfluxDB at {self._url} did not answer a query: "
                                   f"{type(error).__name__}: {error}") from None
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        results = payload.get("results") or [{}]
        problem = payload.get("error") or results[0].get("error")
        if response.status_code != 200 or problem:
            raise InfluxQueryError(f"InfluxDB at {self._url} answered HTTP "
                                   f"{response.status_code} to {statement!r}: "
                                   f"{problem or response.text[:200]}")
        series: list[dict[str, Any]] = results[0].get("series", [])
        return series

    def query(
        self, device_id: str, metric: str, start: float, end: float, limit: int = 10_000
    ) -> list[tuple[float, float]]:
        if limit <= 0:
            return []
        measurement = self._encoder.measurement_of(device_id)
        series = self._select(
            f"SELECT {_quote_ident(metric)} FROM {_quote_ident(measurement)}"  # noqa: S608
            f" WHERE {self._where(device_id)}"
            f" AND time >= {_ms(start)}ms AND time <= {_ms(end)}ms"
            f" ORDER BY time ASC LIMIT {int(limit)}")
        return [(ts / 1000, float(value)) for s in series for ts, value in s["values"]
                if value is not None]

    def query_aggregate(
        self, device_id: str, metric: str, start: float, end: float, every_s: float
    ) -> list[tuple[float, float, float, float, int]]:
        """(bucket start ts, min, max, mean, count) per `every_s` window with data, ascending.

        Windows are aligned to the epoch (InfluxQL's GROUP BY time), so the first one may start
        before `start`; only readings in [start, end] are counted.
        """
        every_ms = round(every_s * 1000)
        if every_ms < 1:
            raise ValueError(f"every_s must be at least 0.001 s, not {every_s!r}")
        field = _quote_ident(metric)
        series = self._select(
            f"SELECT min({field}), max({field}), mean({field}), count({field})"  # noqa: S608
            f" FROM {_quote_ident(self._encoder.measurement_of(device_id))}"
            f" WHERE {self._where(device_id)}"
            f" AND time >= {_ms(start)}ms AND time <= {_ms(end)}ms"
            f" GROUP BY time({every_ms}ms) fill(none)")
        return [(ts / 1000, float(low), float(high), float(mean), int(count))
                for s in series for ts, low, high, mean, count in s["values"]
                if count]

    def metrics_of(self, device_id: str) -> list[str]:
        series = self._select(
            f"SELECT count(*) FROM {_quote_ident(self._encoder.measurement_of(device_id))}"  # noqa: S608
            f" WHERE {self._where(device_id)}")
        return sorted(column.removeprefix("count_") for s in series
                      for row in s["values"]
                      for column, value in zip(s["columns"], row, strict=True)
                      if column != "time" and value)

    def count(self) -> int:
        """Readings stored for this site, all measurements: a full scan, not for hot paths."""
        site = _quote_string(self._site.id)
        series = self._select(f"SELECT count(*) FROM /.*/ WHERE \"site\" = {site}")  # noqa: S608
        return sum(int(value) for s in series for row in s["values"] for value in row[1:]
                   if value)

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._http.close()
        self._write_api.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]
        self._spill.close()
