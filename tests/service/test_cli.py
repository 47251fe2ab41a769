"""The `shouwang` command as a user runs it: real processes, real broker, real HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from devices.site import load_site
from tests.conftest import DATA, Broker, free_port, publisher, wait_for_port
from tests.service.conftest import admin_env, http_login

SHOUWANG = [sys.executable, "-m", "hub.cli"]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SHOUWANG, *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd, check=False)


def wait_healthy(port: int, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
            if r.status_code == 200:
                body: dict[str, object] = r.json()
                return body
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"hub HTTP on {port} not healthy in {timeout} s")
        time.sleep(0.1)


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"did not stop on SIGINT; stderr:\n{err}") from None
    return process.returncode, err


def test_run_serves_alerts_from_the_broker(tmp_path: Path, broker: Broker) -> None:
    http_port = free_port()
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({
        "site": str(DATA / "site.yaml"),
        "mqtt": {"host": broker.host, "port": broker.port},
        "store": {"path": "data"},
        "http": {"port": http_port},
    }), encoding="utf-8")
    process = subprocess.Popen([*SHOUWANG, "run", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=admin_env())
    try:
        health = wait_healthy(http_port)
        assert health["mqtt_connected"] is True
        pub = publisher(broker)
        pub.publish("shouwang/testsite/dev/b1-101-gas/telemetry",
                    orjson.dumps({"gas_lel": 40}), qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        # Alerts are for people who logged in; health is open to probes.
        refused = httpx.get(f"http://127.0.0.1:{http_port}/api/alerts")
        assert refused.status_code == 401
        with http_login(http_port) as api:
            while True:
                alerts = api.get("/api/alerts?state=active").json()
                if alerts or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        assert [a["rule"] for a in alerts] == ["gas_leak"]
        pub.disconnect()
        pub.loop_stop()
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert (tmp_path / "data" / "hub.db").exists()
    assert "alert" in err
    assert "raised" in err


def test_broken_config_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("site: site.yaml\nmqtt:\n  host: 127.0.0.1\n  prot: 1883\n",
                      encoding="utf-8")
    result = run_cli("run", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}:4: mqtt.prot: unknown key" in result.stderr


def test_broken_site_names_file_and_line(tmp_path: Path) -> None:
    site = (DATA / "site.yaml").read_text(encoding="utf-8").replace(
        "kind: gas_detector", "kind: gas_detecter")
    (tmp_path / "site.yaml").write_text(site, encoding="utf-8")
    (tmp_path / "hub.yaml").write_text("site: site.yaml\n", encoding="utf-8")
    result = run_cli("run", "--config", str(tmp_path / "hub.yaml"))
    assert result.returncode == 2
    line = next(i for i, text in enumerate(site.splitlines(), 1) if "gas_detecter" in text)
    assert f"site.yaml:{line}:" in result.stderr
    assert "unknown device kind 'gas_detecter'" in result.stderr


def test_site_generate_writes_a_valid_site(tmp_path: Path) -> None:
    out = tmp_path / "site.yaml"
    result = run_cli("site", "generate", "--grids", "2", "--buildings", "2", "--floors", "3",
                     "--units", "2", "-o", str(out))
    assert result.returncode == 0, result.stderr
    site = load_site(out.read_text(encoding="utf-8"), str(out))
    assert len(site.places) == 2 + 4 + 4 * 3 + 4 * 3 * 2
    assert len(site.devices) >= 4 * 3 * 2 * 3


def test_rules_check(tmp_path: Path) -> None:
    packs = sorted(Path("rules/packs").glob("*.yaml"))
    ok = run_cli("rules", "check", *map(str, packs))
    assert ok.returncode == 0, ok.stderr
    broken = tmp_path / "bad.yaml"
    broken.write_text("pack: x\nrules:\n  - id: a\n    category: fire\n    severity: awful\n"
                      "    kinds: [smoke_detector]\n    message: {zh: a, en: a}\n"
                      "    condition: {type: threshold, metric: smoke, above: 1}\n",
                      encoding="utf-8")
    bad = run_cli("rules", "check", str(broken))
    assert bad.returncode == 2
    assert f"{broken}:5: rules[0].severity:" in bad.stderr


@pytest.mark.parametrize("embedded", [True, False], ids=["embedded-amqtt", "given-broker"])
def test_demo_runs_a_live_community(tmp_path: Path, broker: Broker, embedded: bool) -> None:
    http_port = free_port()
    args = ["demo", "--http-port", str(http_port), "--data", str(tmp_path / "demo")]
    if embedded:
        mqtt_port = free_port()
        args += ["--mqtt-port", str(mqtt_port)]
    else:
        args += ["--broker", broker.url]
    process = subprocess.Popen([*SHOUWANG, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        if embedded:
            wait_for_port(mqtt_port, 20)
        wait_healthy(http_port)
        deadline = time.monotonic() + 20
        while True:
            health = httpx.get(f"http://127.0.0.1:{http_port}/api/health").json()
            if health["devices_online"] > 10 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert health["devices_online"] > 10, health
        assert health["quarantined"] == 0
        page = httpx.get(f"http://127.0.0.1:{http_port}/")
        assert page.status_code == 200
        assert "值班看板" in page.text
    finally:
        code, err = stop(process)
    assert code == 0, err
