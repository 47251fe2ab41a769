"""The ingest hot path on its own: what a batch does to the device registry, in message order."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from hub.alerts import AlertBook
from hub.config import HubConfig, load_config
from hub.pipeline import IngestPipeline
from hub.quarantine import Quarantine
from hub.registry import DeviceRegistry
from hub.statedb import StateDB
from rules.engine import RulesEngine
from tests.conftest import DATA

T0 = 1_780_000_000.0
SMOKE = "shouwang/testsite/dev/b1-101-smoke"


@pytest.fixture
def config(tmp_path: Path) -> HubConfig:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({"site": str(DATA / "site.yaml"),
                                    "store": {"path": str(tmp_path / "data")}}))
    return load_config(path)


@pytest.fixture
def pipeline(config: HubConfig, tmp_path: Path) -> IngestPipeline:
    site = config.site
    db = StateDB(tmp_path / "hub.db")
    engine = RulesEngine(site, config.rules, started=T0)
    alerts = AlertBook(site, db, lambda *a, **k: None, config.rules, forget=engine.forget)
    return IngestPipeline(site, engine, alerts, DeviceRegistry(list(site.devices)), Quarantine())


def telemetry(at: float) -> tuple[str, bytes, float]:
    return f"{SMOKE}/telemetry", orjson.dumps({"smoke": False, "battery": 90}), at


def availability(state: str, at: float) -> tuple[str, bytes, float]:
    return f"{SMOKE}/availability", state.encode(), at


def test_a_batch_marks_its_devices_heard_at_their_last_message(
        pipeline: IngestPipeline) -> None:
    registry = pipeline._registry
    pipeline.process([telemetry(T0), telemetry(T0 + 1), telemetry(T0 + 2)], T0 + 2)
    assert registry.state("b1-101-smoke").online
    assert registry.last_seen["b1-101-smoke"] == T0 + 2
    assert ("b1-101-smoke", T0 + 2, True) in registry.take_dirty()


def test_heard_then_said_offline_in_one_batch_is_offline(pipeline: IngestPipeline) -> None:
    registry = pipeline._registry
    pipeline.process([telemetry(T0), availability("offline", T0 + 1)], T0 + 1)
    assert not registry.state("b1-101-smoke").online
    pipeline.process([availability("offline", T0 + 2), telemetry(T0 + 3)], T0 + 3)
    assert registry.state("b1-101-smoke").online
    assert registry.last_seen["b1-101-smoke"] == T0 + 3
