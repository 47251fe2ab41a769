"""CAP polled from an HTTP Atom feed, and the two commands as a user runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from hub.config import load_config
from hub.service import Hub
from tests.conftest import DATA, Broker, Listener, free_port, publisher, wait_for_port
from tests.federation.capdocs import NORTH, area, cap_xml, circle_around, info
from tests.federation.conftest import eventually, site_file
from tests.service.conftest import admin_env, http_login

SHOUWANG = [sys.executable, "-m", "hub.cli"]


class FeedServer:
    """An Atom feed of CAP documents, like a city early-warning platform's (or our own
    hub's /api/cap/feed): entries link to CAP documents, or embed them."""

    def __init__(self) -> None:
        self.port = free_port()
        self.documents: dict[str, bytes] = {}
        self.entries: list[tuple[str, str, str | None, bytes | None]] = []
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.feed() if self.path == "/feed.xml" else \
                    server.documents.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feed.xml"

    def feed(self) -> bytes:
        parts = ['<?xml version="1.0" encoding="utf-8"?>'
                 '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:test</id>'
                 '<title>市预警发布</title><updated>2030-01-01T00:00:00Z</updated>']
        for entry_id, updated, href, embedded in self.entries:
            parts.append(f"<entry><id>{entry_id}</id><title>w</title><updated>{updated}"
                         "</updated>")
            if href:
                parts.append(f'<link rel="alternate" type="application/cap+xml" href="{href}"/>')
            if embedded:
                parts.append('<content type="application/xml">'
                             + embedded.split(b"?>", 1)[1].decode() + "</content>")
            parts.append("</entry>")
        parts.append("</feed>")
        return "".join(parts).encode()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


async def test_warnings_polled_from_an_atom_feed(tmp_path: Path, broker: Broker,
                                                 feed: FeedServer) -> None:
    here = (area(circles=(circle_around(NORTH, 3),)),)
    feed.documents["/cap/1.xml"] = cap_xml(identifier="city-1", infos=(info(areas=here),))
    feed.entries = [
        ("urn:city-1", "2030-01-01T00:00:00Z", "/cap/1.xml", None),
        ("urn:far-1", "2030-01-01T00:00:00Z", None, cap_xml(
            identifier="far-1", infos=(info(areas=(area(circles=("30.0,120.0 5",)),)),))),
        ("urn:gone", "2030-01-01T00:00:00Z", "/cap/missing.xml", None),
    ]
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({
        "site": str(site_file(tmp_path, "north", NORTH)),
        "mqtt": {"host": broker.host, "port": broker.port, "client_id": "hub-feed"},
        "store": {"path": str(tmp_path / "data")},
        "federation": {"cap": {"feeds": [feed.url], "poll_interval": "0.2s"},
                       "rollup": {"enabled": False}},
    }), encoding="utf-8")
    banner = Listener(broker, "shouwang/north/warnings")
    speakers = Listener(broker, "shouwang/north/command/speakers/#")
    try:
        async with Hub(load_config(path)) as hub:
            assert hub.warnings is not None
            assert hub.federation is not None
            await eventually(lambda: len(hub.warnings.in_force()) == 1, timeout=5,  # type: ignore[union-attr]
                             what="the feed's warning in force")
            await banner.wait_for(lambda ms: any(orjson.loads(p)["warnings"] for _, p in ms))
            await speakers.wait_for(lambda ms: len(ms) == 1)
            assert hub.federation.ingest.rejected["not_covering"] == 1
            polls = feed.requests.count("/feed.xml")
            await eventually(lambda: feed.requests.count("/feed.xml") >= polls + 3, timeout=5,
                             what="three more polls")
            # Each entry once: the same CAP is neither fetched nor relayed again; the missing
            # document is tried again at every poll.
            assert feed.requests.count("/cap/1.xml") == 1
            assert feed.requests.count("/cap/missing.xml") >= 3
            assert hub.federation.ingest.rejected["not_covering"] == 1
            assert len(speakers.messages) == 1

            # The city cancels it: a new entry version.
            feed.documents["/cap/1c.xml"] = cap_xml(
                identifier="city-1c", msg_type="Cancel",
                references="met@sh.example.cn,city-1,2030-01-01T00:00:00+08:00", infos=())
            feed.entries[0] = ("urn:city-1", "2030-01-01T01:00:00Z", "/cap/1c.xml", None)
            await eventually(lambda: hub.warnings.in_force() == [], timeout=5,  # type: ignore[union-attr]
                             what="the cancel from the feed")
            await banner.wait_for(lambda ms: orjson.loads(ms[-1][1])["warnings"] == [])
    finally:
        banner.close()
        speakers.close()


# ---------------------------------------------------------------- commands

def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SHOUWANG, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_bridge_config_command(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({
        "site": str(DATA / "site.yaml"),
        "federation": {"centre": {"host": "10.1.2.3", "port": 1884, "name": "xuhui",
                                  "username": "testsite-bridge"}}}), encoding="utf-8")
    done = run_cli("bridge-config", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "connection shouwang-testsite.xuhui\naddress 10.1.2.3:1884\n" in done.stdout
    assert "topic shouwang/testsite/alerts/# out 1" in done.stdout
    moved = run_cli("bridge-config", "--config", str(config), "--centre", "mqtt://c2:1883",
                    "--name", "city")
    assert "connection shouwang-testsite.city\naddress c2:1883\n" in moved.stdout

    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump({"site": str(DATA / "site.yaml")}), encoding="utf-8")
    refused = run_cli("bridge-config", "--config", str(bare))
    assert refused.returncode == 2
    assert "no federation.centre" in refused.stderr
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({"site": str(DATA / "site.yaml"),
                                    "federation": {"centr": {}}}), encoding="utf-8")
    wrong = run_cli("bridge-config", "--config", str(typo))
    assert wrong.returncode == 2
    assert "federation.centr" in wrong.stderr


def test_command_centre_command(tmp_path: Path, broker: Broker) -> None:
    http_port = free_port()
    config = tmp_path / "centre.yaml"
    config.write_text(yaml.safe_dump({
        "centre": {"name": "xuhui", "communities": [{"id": "north", "name": "北苑社区"}]},
        "mqtt": {"host": broker.host, "port": broker.port},
        "http": {"port": http_port}, "data": "centre-data"}), encoding="utf-8")
    process = subprocess.Popen([*SHOUWANG, "command-centre", "--config", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=admin_env())
    try:
        wait_for_port(http_port, timeout=20)
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 10
        while not httpx.get(f"{base}/api/health").json()["mqtt_connected"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert "指挥中心" in httpx.get(base).text  # the page (it logs in first)
        assert httpx.get(f"{base}/api/communities").status_code == 401
        client = http_login(http_port)  # the admin from SHOUWANG_ADMIN_PASSWORD
        alert = {"id": "a1", "rule": "smoke_alarm", "category": "fire", "severity": "major",
                 "state": "active_unack", "active": True, "raised_at": time.time(),
                 "updated_at": time.time(), "message": {"zh": "烟感报警", "en": "Smoke"},
                 "place": "b1/f1/101"}
        with client.stream("GET", "/api/feed", timeout=10) as events:
            lines = events.iter_lines()
            assert next(lines) == ": connected"
            pub = publisher(broker, "north-hub")
            pub.publish("shouwang/north/alerts/fire/a1", json.dumps(
                {"site": "north", "transition": "raised", "notify": True, "by": None,
                 "note": None, "alert": alert}), qos=1).wait_for_publish(5)
            pub.disconnect()
            event = next(line for line in lines if line.startswith("data: "))
        assert json.loads(event[6:])["alert"]["id"] == "a1"
        (north,) = client.get("/api/communities").json()
        client.close()
        assert (north["name"], north["active"]["major"]) == ("北苑社区", 1)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert (tmp_path / "centre-data" / "centre.db").exists()
    assert (tmp_path / "centre-data" / "auth.db").exists()
