"""The generated mosquitto bridge configuration: what it carries, and that mosquitto takes it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from hub.bridge import bridge_config, connection_name, site_of_connection
from hub.config import CentreLinkConfig, TlsConfig
from tests.conftest import _mosquitto_binary, free_port, mosquitto_config


def test_topics_session_and_queue() -> None:
    text = bridge_config("north", CentreLinkConfig(host="10.0.0.2", port=1884, name="xuhui"))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert "connection shouwang-north.xuhui" in lines
    assert "address 10.0.0.2:1884" in lines
    assert "cleansession false" in lines
    assert "bridge_protocol_version mqttv311" in lines
    assert "bridge_attempt_unsubscribe false" in lines
    assert "max_queued_messages 1000000" in lines
    assert [line for line in lines if line.startswith("topic ")] == [
        "topic shouwang/north/alerts/# out 1", "topic shouwang/north/rollup/1m out 1",
        "topic shouwang/north/hub/status out 1", "topic shouwang/north/warnings out 1",
        "topic shouwang/north/centre/ack in 1", "topic shouwang/north/cap/in in 1",
        "topic shouwang/cap/all in 1"]
    # Global options come before the first `connection`: after it they would read as
    # options of the bridge.
    assert lines.index("max_queued_messages 1000000") < lines.index(
        "connection shouwang-north.xuhui")
    assert not any(line.startswith("remote_") and "password" in line for line in lines)


def test_credentials_and_tls() -> None:
    centre = CentreLinkConfig(host="centre", port=8883, username="north-bridge",
                              tls=TlsConfig(ca_file="/etc/ca.pem", cert_file="/etc/c.pem",
                                            key_file="/etc/k.pem"))
    text = bridge_config("north", centre)
    assert "remote_username north-bridge" in text
    assert "# remote_password" in text
    assert "remote_password s3cret" in bridge_config("north", centre, password="s3cret")
    assert "bridge_cafile /etc/ca.pem\nbridge_certfile /etc/c.pem\nbridge_keyfile /etc/k.pem" \
        in text


@pytest.mark.parametrize("site", ["north", "he-yuan_2", "a"])
def test_the_site_reads_back_from_the_connection_name(site: str) -> None:
    assert site_of_connection(connection_name(site, "xuhui.city")) == site
    assert site_of_connection("somebody-else") is None


def test_mosquitto_accepts_it(tmp_path: Path) -> None:
    port = free_port()
    fragment = bridge_config("north", CentreLinkConfig(host="127.0.0.1", port=free_port()))
    config = mosquitto_config(port, tmp_path, fragment)
    process = subprocess.Popen([_mosquitto_binary(), "-c", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    alive = process.poll() is None
    if alive:
        process.terminate()
    output = process.communicate(timeout=5)[0].decode()
    assert alive, output
