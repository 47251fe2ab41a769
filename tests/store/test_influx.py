"""InfluxReadingStore against real servers: VictoriaMetrics (written through the unchanged
influxdb-client path, read back through its export API) and influxd 1.6 (written through the
test proxy's /api/v2/write, read back through InfluxQL). Faults: stopped servers, kill -9,
and 4xx answers injected by the proxy."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from devices.catalog import CATALOG
from devices.site import DeviceInfo, Place, Site
from devices.yamlsource import ConfigError
from hub.config import HubSecrets, StoreConfig, load_config
from hub.store import ReadingTuple, open_reading_store
from hub.store.influx import InfluxReadingStore, LineEncoder, SpillFullError
from hub.store.process import ProcessStore
from tests.conftest import DATA, free_port
from tests.store.conftest import Influxd, VictoriaMetrics, WriteProxy

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
T0 = 1_700_000_000.0
SITE_ID = "testsite"
BUILDING = "1号楼 A,B=C"  # a space, a comma, an equals sign and Chinese: all escaped on the way
SMOKE = "烟感 1,客厅=东"
BUCKET = "shouwang"


def make_site() -> Site:
    """Built directly: site files only allow plain ids, the store must carry any id."""
    grid = Place("g1")
    building = Place("g1", BUILDING)
    floor = Place("g1", BUILDING, 3)
    unit = Place("g1", BUILDING, 3, "301")
    devices = [
        DeviceInfo(SMOKE, CATALOG["smoke_detector"], unit),
        DeviceInfo("gas-301", CATALOG["gas_detector"], unit),
        DeviceInfo("heat-f3", CATALOG["heat_detector"], floor),
        DeviceInfo("pump-1", CATALOG["fire_pump"], building),
        DeviceInfo("th-1", CATALOG["temp_humidity"], building),
        DeviceInfo("flood-1", CATALOG["water_level"], grid),
        DeviceInfo("leak-301", CATALOG["water_leak"], unit),
        DeviceInfo("tank-1", CATALOG["water_tank"], building),
    ]
    places = {place.id: place for place in (grid, building, floor, unit)}
    return Site(SITE_ID, "测试社区", "Asia/Shanghai", {d.id: d for d in devices}, places,
                building_names={BUILDING: BUILDING}, grid_names={"g1": "第一网格"})


SITE = make_site()
OpenStore = Callable[..., InfluxReadingStore]


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[OpenStore]:
    """Opens stores spilling to tmp_path/spill (unless told otherwise); closes them all."""
    stores: list[InfluxReadingStore] = []

    def open_(url: str, **options: Any) -> InfluxReadingStore:
        options.setdefault("spill_dir", tmp_path / "spill")
        options.setdefault("token", None)
        store = InfluxReadingStore(SITE, url=url, org="", bucket=BUCKET, **options)
        stores.append(store)
        return store

    yield open_
    for store in stores:
        store.close()


def telemetry(start: int, n: int) -> list[ReadingTuple]:
    """n messages per device, one per second from T0 + start: values encode device and time
    (short decimals: VictoriaMetrics keeps about 12 significant digits)."""
    readings: list[ReadingTuple] = []
    for i in range(start, start + n):
        ts = T0 + i + 0.125
        readings += [
            (SMOKE, "smoke", ts, float(i % 2)),
            (SMOKE, "battery", ts, round(90.0 - i / 1000, 3)),
            ("gas-301", "gas_lel", ts, i / 100),
            ("gas-301", "co_ppm", ts, float(i)),
            ("pump-1", "pressure_mpa", ts, round(0.4 + i / 10_000, 4)),
            ("pump-1", "running", ts, 1.0),
        ]
    return readings


def expected_series(readings: list[ReadingTuple]) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(device, metric) -> [(ts_ms, value)] in time order."""
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for device, metric, ts, value in readings:
        series.setdefault((device, metric), []).append((round(ts * 1000), value))
    return {key: sorted(points) for key, points in series.items()}


def exported(victoria: VictoriaMetrics) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """What VictoriaMetrics holds, keyed like expected_series (duplicates kept)."""
    series = {}
    for line in victoria.export():
        metric = line["metric"]
        kind = SITE.devices[metric["device"]].kind.name
        field = metric["__name__"].removeprefix(kind + "_")
        series[metric["device"], field] = sorted(
            zip(line["timestamps"], line["values"], strict=True))
    return series


def stored_in_influxd(store: InfluxReadingStore,
                      keys: Iterator[tuple[str, str]]) -> dict[tuple[str, str], list[Any]]:
    return {(device, metric): [(round(ts * 1000), value)
                               for ts, value in store.query(device, metric, 0, 4e9, 1_000_000)]
            for device, metric in keys}


# ------------------------------------------------------------------------------ line protocol


def test_one_line_per_message_with_escaped_tags() -> None:
    batch = LineEncoder(SITE).encode([
        (SMOKE, "smoke", T0 + 0.123, 0.0),
        (SMOKE, "battery", T0 + 0.123, 88.5),
        ("pump-1", "pressure_mpa", T0 + 0.5, 0.42),
        ("pump-1", "running", T0 + 0.5, True),  # type: ignore[list-item]  # a stray bool
        ("flood-1", "water_level_cm", T0 + 1, 12),  # type: ignore[list-item]  # a stray int
    ])

    assert batch.body.decode().split("\n") == [
        r"smoke_detector,building=1号楼\ A\,B\=C,device=烟感\ 1\,客厅\=东,floor=3,grid=g1,"
        r"site=testsite,unit=301 smoke=0.0,battery=88.5 1700000000123",
        r"fire_pump,building=1号楼\ A\,B\=C,device=pump-1,grid=g1,site=testsite "
        r"pressure_mpa=0.42,running=1.0 1700000000500",
        "water_level,device=flood-1,grid=g1,site=testsite water_level_cm=12.0 1700000001000",
    ]
    assert (batch.readings, batch.lines, batch.dropped) == (5, 3, 0)


def test_ids_line_protocol_cannot_carry_fail_at_start() -> None:
    for bad in ("two\nlines", "ends with \\", "back\\,slash"):
        device = DeviceInfo(bad, CATALOG["smoke_detector"], Place("g1"))
        site = Site(SITE_ID, "x", "Asia/Shanghai", {bad: device}, {"g1": Place("g1")})
        with pytest.raises(ValueError, match="cannot be written as line protocol"):
            LineEncoder(site)


# ------------------------------------------------------------------------------ VictoriaMetrics


def test_victoria_metrics_gets_series_per_field_with_ms_timestamps(
    victoria: VictoriaMetrics, open_store: OpenStore
) -> None:
    store = open_store(victoria.url)
    readings = telemetry(0, 20)
    store.write(readings)

    lines = victoria.export()
    names = {line["metric"]["__name__"] for line in lines}
    assert names == {"smoke_detector_smoke", "smoke_detector_battery", "gas_detector_gas_lel",
                     "gas_detector_co_ppm", "fire_pump_pressure_mpa", "fire_pump_running"}
    battery = next(line for line in lines if line["metric"]["__name__"] == "smoke_detector_battery")
    # Escaped spaces, commas, '=' and Chinese come back as they were; empty tags are left out.
    assert battery["metric"] == {"__name__": "smoke_detector_battery", "site": SITE_ID,
                                 "grid": "g1", "building": BUILDING, "floor": "3",
                                 "unit": "301", "device": SMOKE}
    pump = next(line for line in lines if line["metric"]["__name__"] == "fire_pump_running")
    assert set(pump["metric"]) == {"__name__", "site", "grid", "building", "device"}
    assert battery["timestamps"][:2] == [1_700_000_000_125, 1_700_000_001_125]
    assert exported(victoria) == expected_series(readings)
    assert store.backlog_batches == 0
    assert store.spilled_total == 0


def test_non_finite_values_are_dropped_and_counted(
    victoria: VictoriaMetrics, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(victoria.url)
    store.write([("gas-301", "gas_lel", T0, float("nan")), ("gas-301", "co_ppm", T0, 3.0),
                 ("gas-301", "gas_lel", T0 + 1, float("inf"))])

    assert exported(victoria) == {("gas-301", "co_ppm"): [(1_700_000_000_000, 3.0)]}
    assert store.dropped_total == 2
    assert "Dropped 2 readings" in caplog.text


# ------------------------------------------------------------------------------ influxd + InfluxQL


def test_influxql_reads_round_trip(influx_proxy: WriteProxy, open_store: OpenStore) -> None:
    store = open_store(influx_proxy.url)
    readings = telemetry(0, 50)
    store.write(readings)

    battery = [(ts / 1000, value) for ts, value in expected_series(readings)[SMOKE, "battery"]]
    assert store.query(SMOKE, "battery", 0, 4e9) == battery
    assert store.query(SMOKE, "battery", battery[3][0], battery[5][0]) == battery[3:6]  # inclusive
    assert store.query(SMOKE, "battery", 0, 4e9, limit=4) == battery[:4]
    assert store.query(SMOKE, "battery", 0, T0) == []
    assert store.query(SMOKE, "no_such_metric", 0, 4e9) == []
    assert store.query("no-such-device", "battery", 0, 4e9) == []
    assert store.metrics_of(SMOKE) == ["battery", "smoke"]
    assert store.metrics_of("pump-1") == ["pressure_mpa", "running"]
    assert store.metrics_of("th-1") == []
    assert store.count() == len(readings)


def test_escaped_tags_round_trip_in_influxdb(
    influxd: Influxd, influx_proxy: WriteProxy, open_store: OpenStore
) -> None:
    store = open_store(influx_proxy.url)
    store.write(telemetry(0, 2))

    (series,) = influxd.influxql('SHOW TAG VALUES FROM "smoke_detector" WITH KEY = "building"')
    assert series["values"] == [["building", BUILDING]]
    (series,) = influxd.influxql('SHOW TAG VALUES FROM "smoke_detector" WITH KEY = "device"')
    assert series["values"] == [["device", SMOKE]]
    (series,) = influxd.influxql('SHOW FIELD KEYS FROM "smoke_detector"')
    assert series["values"] == [["battery", "float"], ["smoke", "float"]]
    assert store.query(SMOKE, "smoke", 0, 4e9) == [(T0 + 0.125, 0.0), (T0 + 1.125, 1.0)]


def test_query_aggregate_groups_by_time(influx_proxy: WriteProxy, open_store: OpenStore) -> None:
    store = open_store(influx_proxy.url)
    store.write([("gas-301", "gas_lel", T0 + s, float(s)) for s in range(0, 60, 5)])

    # T0 is a multiple of 20 s, so windows start at T0, T0 + 20, T0 + 40.
    assert store.query_aggregate("gas-301", "gas_lel", T0, T0 + 59, every_s=20) == [
        (T0, 0.0, 15.0, 7.5, 4), (T0 + 20, 20.0, 35.0, 27.5, 4), (T0 + 40, 40.0, 55.0, 47.5, 4)]
    assert store.query_aggregate("gas-301", "gas_lel", T0 + 10, T0 + 25, every_s=20) == [
        (T0, 10.0, 15.0, 12.5, 2), (T0 + 20, 20.0, 25.0, 22.5, 2)]
    assert store.query_aggregate("gas-301", "co_ppm", T0, T0 + 59, every_s=20) == []
    with pytest.raises(ValueError, match="every_s"):
        store.query_aggregate("gas-301", "gas_lel", T0, T0 + 59, every_s=0)


def test_token_goes_to_writes_and_reads(influx_proxy: WriteProxy, open_store: OpenStore) -> None:
    store = open_store(influx_proxy.url, token="s3cret")
    store.write(telemetry(0, 1))
    store.count()

    assert influx_proxy.authorizations == ["Token s3cret", "Token s3cret"]


# ------------------------------------------------------------------------------ outages


def _outage_round(store: InfluxReadingStore, stop: Callable[[], None],
                  start: Callable[[], None]) -> list[ReadingTuple]:
    """Write 30 batches, the server down for batches 10..19; then write until replayed."""
    written: list[ReadingTuple] = []
    for i in range(30):
        if i == 10:
            stop()
        if i == 20:
            start()
        batch = telemetry(i * 10, 10)
        store.write(batch)  # never raises under the cap
        written += batch
        if 10 <= i < 20:
            assert store.backlog_batches == i - 9
    i = 30
    deadline = time.monotonic() + 20
    while store.backlog_batches:
        assert time.monotonic() < deadline, "the spill buffer was never replayed"
        time.sleep(0.05)
        batch = telemetry(i * 10, 10)
        store.write(batch)
        written += batch
        i += 1
    assert store.spilled_total >= 10 * len(telemetry(0, 10))
    assert store.replayed_total == store.spilled_total
    assert not store.failing
    return written


def test_victoria_metrics_outage_loses_and_repeats_nothing(
    victoria: VictoriaMetrics, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(victoria.url, retry_min_s=0.05, retry_max_s=0.2)
    written = _outage_round(store, victoria.stop, victoria.start)

    assert exported(victoria) == expected_series(written)  # in order, once each
    assert "spilling readings to" in caplog.text
    assert "takes writes again" in caplog.text


def test_influxdb_outage_behind_proxy_loses_nothing(
    influxd: Influxd, influx_proxy: WriteProxy, open_store: OpenStore
) -> None:
    store = open_store(influx_proxy.url, retry_min_s=0.05, retry_max_s=0.2)
    written = _outage_round(store, influxd.stop, influxd.start)  # the proxy answers 502 meanwhile

    expected = expected_series(written)
    assert stored_in_influxd(store, iter(expected)) == expected
    assert store.count() == len(written)


def test_spill_survives_kill_9_and_is_replayed_by_the_next_store(
    tmp_path: Path, victoria: VictoriaMetrics, open_store: OpenStore
) -> None:
    spill_dir = tmp_path / "spill"
    dead_url = f"http://127.0.0.1:{free_port()}"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from tests.store.test_influx import SITE, telemetry\n"
        "from hub.store.influx import InfluxReadingStore\n"
        "store = InfluxReadingStore(SITE, url=sys.argv[1], org='', bucket='b', token=None,\n"
        "                           spill_dir=Path(sys.argv[2]), retry_min_s=60)\n"
        "for i in range(5):\n"
        "    store.write(telemetry(i * 10, 10))\n"
        "print(store.backlog_batches, flush=True)\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, dead_url, str(spill_dir)],
                               cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ,
                               "PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"5\n"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.stdout is not None
        process.stdout.close()

    store = open_store(victoria.url, spill_dir=spill_dir)
    assert store.backlog_batches == 5
    store.write(telemetry(50, 10))

    assert store.backlog_batches == 0
    assert store.replayed_total == 5 * len(telemetry(0, 10))
    assert exported(victoria) == expected_series(telemetry(0, 60))


def test_one_spill_dir_one_store(tmp_path: Path, open_store: OpenStore) -> None:
    open_store("http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="in use by another process"):
        open_store("http://127.0.0.1:9")


def test_full_spill_refuses_the_newest_batch_loudly(
    victoria: VictoriaMetrics, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(victoria.url, spill_cap_bytes=3_000, retry_min_s=0.05, retry_max_s=0.05)
    victoria.stop()
    written: list[ReadingTuple] = []
    with pytest.raises(SpillFullError, match="is full"):  # noqa: PT012
        for i in range(100):
            batch = telemetry(i * 10, 10)
            store.write(batch)
            written += batch
    batches = len(written) // len(telemetry(0, 10))
    refused = telemetry(batches * 10, 10)
    assert 0 < store.backlog_bytes <= 3_000
    assert store.backlog_batches == batches
    assert store.spilled_total == len(written)
    assert store.dropped_total == 0
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors
    assert "is full" in errors[0].getMessage()

    # What the writer does next: retry the refused batch until there is room.
    victoria.start()
    time.sleep(0.06)
    store.write(refused)
    assert store.backlog_batches == 0
    assert exported(victoria) == expected_series(written + refused)


def test_rejected_token_keeps_batches_until_fixed(
    influx_proxy: WriteProxy, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(influx_proxy.url, retry_min_s=0.05, retry_max_s=1.0)
    influx_proxy.fail_with(401, {"code": "unauthorized", "message": "unauthorized access"})
    store.write(telemetry(0, 5))
    store.write(telemetry(5, 5))  # within retry_max_s: straight to the spill, not sent

    assert store.backlog_batches == 2
    assert store.rejections_total == 1
    assert influx_proxy.writes == 1
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "HTTP 401: unauthorized access" in error.getMessage()
    assert "SHOUWANG_INFLUX_TOKEN" in error.getMessage()

    influx_proxy.fail_with(None)  # the operator fixed the token
    time.sleep(1.05)
    store.write(telemetry(10, 5))
    assert store.backlog_batches == 0
    assert store.count() == len(telemetry(0, 15))


def test_bad_request_sets_that_batch_aside_and_goes_on(
    tmp_path: Path, influx_proxy: WriteProxy, open_store: OpenStore,
    caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(influx_proxy.url)
    influx_proxy.fail_with(400, {"error": "partial write: field type conflict"})
    store.write(telemetry(0, 5))
    influx_proxy.fail_with(None)
    store.write(telemetry(5, 5))

    assert store.backlog_batches == 0
    assert (store.refused_batches, store.refused_total) == (1, len(telemetry(0, 5)))
    assert store.rejections_total == 1
    assert "field type conflict" in caplog.text
    assert store.count() == len(telemetry(5, 5))
    with closing(sqlite3.connect(tmp_path / "spill" / "spill.db")) as db:
        (status, readings), = db.execute("SELECT status, readings FROM refused").fetchall()
    assert (status, readings) == (400, len(telemetry(0, 5)))


# ------------------------------------------------------------------------------ wiring


def test_store_config_for_influxdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="store kind influxdb needs url and bucket"):
        StoreConfig(kind="influxdb")
    config = StoreConfig(kind="influxdb", url="http://127.0.0.1:8086", bucket="b")
    assert (config.org, config.database, config.spill_cap_mb) == ("", None, 1024)

    path = tmp_path / "hub.yaml"
    path.write_text(f"site: {DATA / 'site.yaml'}\n"
                    "store:\n  kind: influxdb\n  url: http://127.0.0.1:8086\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:2: store:") + ".*needs bucket"):
        load_config(path)

    monkeypatch.setenv("SHOUWANG_INFLUX_TOKEN", "t0ken")
    token = HubSecrets(_env_file=None).influx_token  # type: ignore[call-arg]
    assert token is not None
    assert token.get_secret_value() == "t0ken"


def test_open_reading_store_by_kind(tmp_path: Path, victoria: VictoriaMetrics) -> None:
    sqlite = open_reading_store("sqlite", data_dir=tmp_path, site=SITE)
    try:
        assert isinstance(sqlite, ProcessStore)  # SQLite, in a process of its own
        assert (tmp_path / "readings.db").exists()
    finally:
        sqlite.close()
    influx = open_reading_store("influxdb", data_dir=tmp_path, site=SITE, url=victoria.url,
                                bucket=BUCKET)
    try:
        assert isinstance(influx, InfluxReadingStore)
        influx.write(telemetry(0, 1))
        assert (tmp_path / "influx-spill" / "spill.db").exists()
    finally:
        influx.close()
    assert len(exported(victoria)) == 6


def _grafana_queries() -> list[tuple[str, str]]:
    """(variable name or panel title, InfluxQL) for every query of the dashboard."""
    dashboard = json.loads((GRAFANA / "shouwang-dashboard.json").read_text(encoding="utf-8"))
    queries = [(variable["name"], variable["query"])
               for variable in dashboard["templating"]["list"] if variable["type"] == "query"]
    for panel in dashboard["panels"]:
        queries += [(panel["title"], target["query"]) for target in panel.get("targets", [])]
    return queries


def test_grafana_dashboard_queries_run_on_influxdb(
    influxd: Influxd, influx_proxy: WriteProxy, open_store: OpenStore
) -> None:
    store = open_store(influx_proxy.url)
    store.write([
        *telemetry(0, 120),
        ("th-1", "temperature", T0 + 5, 21.5), ("heat-f3", "temperature", T0 + 5, 60.0),
        ("flood-1", "water_level_cm", T0 + 5, 3.0), ("leak-301", "water_leak", T0 + 5, 1.0),
        ("tank-1", "level_pct", T0 + 5, 97.0), ("gas-301", "gas_lel", T0 + 7, 25.0),
        ("pump-1", "pressure_mpa", T0 + 7, 0.2)])
    # What Grafana substitutes: its macros, `All` (.*) for the multi-value variables, and the
    # chosen value of the single-value ones.
    macros = {"$timeFilter": f"time >= {int(T0)}s AND time <= {int(T0) + 3600}s",
              "$__interval": "1m", "$site": SITE_ID, "$grid": ".*", "$building": ".*",
              "$kind": "smoke_detector", "$field": "battery"}
    answers = {}
    queries = _grafana_queries()
    assert len(queries) >= 15
    for name, template in queries:
        query = template
        for macro, value in macros.items():
            query = query.replace(macro, value)
        assert not re.search(r"\$\w", query), query  # every variable substituted
        answers[name, query] = influxd.influxql(query)  # raises on any InfluxQL error
    assert all(answers.values()), [key for key, series in answers.items() if not series]

    # One smoke detector in one building, reporting every second for two minutes from T0, which
    # is 20 s into a minute: three one-minute windows see it, the rest are filled with 0.
    (devices,) = next(series for (name, _), series in answers.items()
                      if name.startswith("Devices reporting"))
    assert devices["tags"] == {"building": BUILDING}
    assert [count for _, count in devices["values"]][:5] == [1, 1, 1, 0, 0]
