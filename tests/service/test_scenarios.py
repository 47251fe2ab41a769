"""The shipped scenarios (scenarios/*.yaml), each against a real mosquitto and a hub of its
own in this process on a simulated clock; and `scenario run` as a user runs it, against
`shouwang run` in another process, with a JUnit report and its exit code.

A scenario with a `start` gets a hub whose clock already stands just before it, so the runner
only nudges the clock (a fresh hub judged at a far jump would see its devices late; see
simulators/scenario/runner.py).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from hub.clock import SimulatedClock
from hub.config import HubConfig, load_config
from hub.service import Hub
from simulators.scenario import (
    HubApi,
    RunOptions,
    Scenario,
    load_scenario,
    results_table,
    run_scenario,
)
from simulators.scenario.expect import Verdict
from simulators.scenario.runner import resolve_start
from tests.conftest import Broker, free_port
from tests.service import conftest as service

ROOT = Path(__file__).parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def hub_config_for(scenario: Scenario, tmp_path: Path, broker: Broker,
                   http_port: int | None = None) -> Path:
    """The shipped hub config of the scenario's site, on the test's broker and disk."""
    sites = scenario.site_path.parent
    config: dict[str, Any] = yaml.safe_load(
        (sites / f"hub-{scenario.site_path.stem}.yaml").read_text(encoding="utf-8"))
    config["site"] = str(scenario.site_path)
    config["mqtt"] = {"host": broker.host, "port": broker.port,
                      "client_id": f"hub-{scenario.name}"}
    config["store"] = {"path": str(tmp_path / "data")}
    config["http"] = {"host": "127.0.0.1", "port": http_port or 0}
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@asynccontextmanager
async def hub_api(config: HubConfig, clock: SimulatedClock) -> AsyncIterator[HubApi]:
    async with Hub(config, clock=clock) as hub:
        login = getattr(service, "api_client", None)
        if login is None:  # a hub without logins
            from hub.api.app import create_app

            transport = httpx.ASGITransport(app=create_app(hub, manage=False))
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
                yield HubApi(c)
        else:
            async with login(hub) as client:
                yield HubApi(client)


def broker_restarter(broker: Broker) -> Any:
    async def restart() -> None:
        await asyncio.to_thread(broker.stop)
        await asyncio.to_thread(broker.start)
    return restart


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_shipped_scenario(path: Path, tmp_path: Path, broker: Broker) -> None:
    scenario = load_scenario(path)
    config = load_config(hub_config_for(scenario, tmp_path, broker))
    now = time.time()
    if scenario.start is not None:
        now = resolve_start(scenario.start, now, ZoneInfo(scenario.site.timezone)) - 5.0
    lines: list[str] = []
    options = RunOptions(broker=(broker.host, broker.port),
                         broker_restart=broker_restarter(broker))
    async with hub_api(config, SimulatedClock(start=now)) as api:
        result = await run_scenario(scenario, api, options, lines.append)
    report = "\n".join(lines) + "\n" + results_table(result)
    print(report)  # shown with -s, or when the test fails
    assert result.passed, report
    assert not [o for o in result.outcomes if o.verdict is not Verdict.PASSED], report


def test_every_rule_pack_has_a_scenario() -> None:
    """Each shipped pack is exercised by at least one scenario expectation."""
    packs = {p.stem: {r["id"] for r in yaml.safe_load(p.read_text(encoding="utf-8"))["rules"]}
             for p in (ROOT / "rules" / "packs").glob("*.yaml")}
    expected = {e.match.rule for s in map(load_scenario, SCENARIOS) for e in s.expectations
                if e.kind == "alert"}
    missing = [pack for pack, rules in packs.items() if not rules & expected]
    assert not missing, f"no scenario expects an alert of pack(s) {missing}"


# ---------------------------------------------------------------- the command line


def _token(port: int) -> str | None:
    """An admin API token from a hub with logins (None when the hub has none)."""
    login = getattr(service, "http_login", None)
    if login is None:
        return None
    with login(port) as client:
        r = client.post("/api/tokens", json={"name": "scenario-ci", "role": "admin"})
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token


def _wait_healthy(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"hub did not come up: {process.communicate()[1]}")
        time.sleep(0.1)


def test_scenario_run_command(tmp_path: Path, broker: Broker) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "gas-leak.yaml")
    port = free_port()
    config = hub_config_for(scenario, tmp_path, broker, port)
    env_of = getattr(service, "admin_env", None)
    hub = subprocess.Popen([sys.executable, "-m", "hub.cli", "run", "--config", str(config)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env_of() if env_of else None)
    try:
        _wait_healthy(port, hub)
        token = _token(port)
        missed = tmp_path / "missed.yaml"
        missed.write_text(
            f"name: nothing-happens\nsite: {scenario.site_path}\nspeed: 240\n"
            "expect:\n  - alert: {rule: smoke_alarm, place: b1}\n    within: 30s\n",
            encoding="utf-8")
        junit = tmp_path / "report.xml"
        command = [sys.executable, "-m", "simulators.cli", "scenario", "run",
                   str(ROOT / "scenarios" / "gas-leak.yaml"), str(missed),
                   "--hub", f"http://127.0.0.1:{port}", "--broker", broker.url,
                   "--speed", "240", "--junit", str(junit)]
        if token is not None:
            command += ["--token", token]
        run = subprocess.run(command, capture_output=True, text=True, timeout=60,
                             check=False, cwd=ROOT)
    finally:
        hub.terminate()
        hub.communicate(timeout=20)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "gas-leak: PASSED" in run.stdout, run.stdout + run.stderr
    assert "nothing-happens: FAILED" in run.stdout
    assert "no matching alert within 30s" in run.stdout
    suites = ET.parse(junit).getroot()
    assert suites.get("tests") == "4"
    assert suites.get("failures") == "1"
    failed = suites.findall(".//testcase[failure]")
    assert [c.get("name") for c in failed] == ["alert smoke_alarm @ b1 within 30s"]
    assert failed[0].get("line") == "5"


def test_scenario_run_refuses_a_hub_of_another_site(tmp_path: Path, broker: Broker) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(f"name: elsewhere\nsite: {ROOT / 'tests' / 'data' / 'site.yaml'}\n"
                     "expect:\n  - no_alert: {category: fire}\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "simulators.cli", "scenario", "run",
                          str(other), "--hub", "http://127.0.0.1:9", "--broker", broker.url],
                         capture_output=True, text=True, timeout=30, check=False, cwd=ROOT)
    assert run.returncode == 2, run.stderr
    assert "cannot reach the hub at http://127.0.0.1:9" in run.stderr
