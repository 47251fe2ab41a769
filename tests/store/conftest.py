"""Real time-series servers on free loopback ports: VictoriaMetrics, and InfluxDB 1.6 behind a
test-only proxy that gives it the /api/v2/write endpoint the product writes to."""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

_INSTALL_HINT = ("run `bash scripts/test`, which installs it (apt-get install -y "
                 "victoria-metrics influxdb)")


def _binary(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not Path(path).exists():
        pytest.fail(f"{name} is not installed: {_INSTALL_HINT}")
    return path


def _http(method: str, url: str, body: bytes | None = None, timeout: float = 10) -> bytes:
    request = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data: bytes = response.read()
        return data


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path,
                   timeout: float = 20) -> None:
    """Poll a health endpoint (2xx) while the process lives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}: "
                               f"{log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError):
            _http("GET", url, timeout=1)
            return
        time.sleep(0.02)
    raise TimeoutError(f"{url} not up after {timeout} s")


@dataclass
class _Server:
    """A server process on a fixed port and data dir, stopped and started again by tests."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _health_path(self) -> str:
        raise NotImplementedError

    def start(self) -> None:
        log = self.directory / "server.log"
        with log.open("ab") as output:
            self.process = subprocess.Popen(self._command(), stdout=output,
                                            stderr=subprocess.STDOUT)
        _wait_until_up(self.url + self._health_path(), self.process, log)

    def stop(self) -> None:
        """Terminate (SIGTERM) and wait: an outage as a restart or a crash-free stop sees it."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@dataclass
class VictoriaMetrics(_Server):
    """Debian's victoria-metrics: accepts /api/v2/write as is; stores numbers, ms timestamps,
    and names a series `<measurement>_<field>`."""

    def _command(self) -> list[str]:
        return [_binary("victoria-metrics"), "-retentionPeriod=100y",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.directory / 'data'}", "-loggerLevel=ERROR"]

    def _health_path(self) -> str:
        return "/health"

    def export(self, match: str = '{__name__!=""}') -> list[dict[str, Any]]:
        """Every sample of the matching series (after a flush), one dict per series."""
        _http("GET", self.url + "/internal/force_flush")
        query = urllib.parse.urlencode({"match[]": match})
        text = _http("GET", f"{self.url}/api/v1/export?{query}").decode()
        return [json.loads(line) for line in text.splitlines() if line]


@dataclass
class Influxd(_Server):
    """Debian's influxd 1.6 with a generated config: loopback ports, dirs in tmp, no reporting."""

    rpc_port: int = 0
    database: str = "shouwang"

    def _command(self) -> list[str]:
        config = self.directory / "influxd.conf"
        config.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.directory / "meta"}"\n'
            f'[data]\n  dir = "{self.directory / "data"}"\n'
            f'  wal-dir = "{self.directory / "wal"}"\n'
            "  query-log-enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n", encoding="utf-8")
        return [_binary("influxd"), "-config", str(config)]

    def _health_path(self) -> str:
        return "/ping"

    def start(self) -> None:
        super().start()
        self.influxql(f'CREATE DATABASE "{self.database}"')

    def influxql(self, statement: str) -> list[dict[str, Any]]:
        """Run a statement over /query; return its result (series list), raising on an error."""
        query = urllib.parse.urlencode({"db": self.database, "q": statement, "epoch": "ms"})
        payload = json.loads(_http("POST", f"{self.url}/query?{query}", b""))
        result = payload["results"][0]
        if "error" in result:
            raise AssertionError(f"{statement}: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series


@dataclass
class WriteProxy:
    """TEST-ONLY stand-in for what influxd 1.6 lacks: /api/v2/write (added in InfluxDB 1.8).

    It maps `POST /api/v2/write?bucket=B&precision=P` onto influxd's `POST /write?db=B&
    precision=P`, passing the gzip body and its Content-Encoding through unchanged, so the
    unchanged influxdb-client write path does a full round trip. Every other request (/query,
    /ping) is forwarded as it is. When influxd is down it answers 502, like a reverse proxy.
    Tests may make it answer a fixed error (`fail_with`) to inject 4xx faults, and read the
    Authorization headers it saw. Not part of the product.
    """

    upstream_port: int
    port: int = 0
    authorizations: list[str] = field(default_factory=list)
    writes: int = 0
    _fault: tuple[int, bytes] | None = None
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_with(self, status: int | None, body: dict[str, str] | None = None) -> None:
        """Answer every write with this status and JSON body, or forward again (None)."""
        self._fault = None if status is None else (status, json.dumps(body or {}).encode())

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy._forward(self)

            def do_POST(self) -> None:
                proxy._forward(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def _forward(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        if auth := request.headers.get("Authorization"):
            self.authorizations.append(auth)
        url = urllib.parse.urlsplit(request.path)
        path, query = url.path, url.query
        if path == "/api/v2/write":
            self.writes += 1
            if self._fault is not None:
                status, payload = self._fault
                self._answer(request, status, payload, {"Content-Type": "application/json"})
                return
            params = urllib.parse.parse_qs(query)
            path = "/write"
            query = urllib.parse.urlencode({"db": params["bucket"][0],
                                            "precision": params.get("precision", ["ns"])[0]})
        headers = {name: value for name in ("Content-Type", "Content-Encoding")
                   if (value := request.headers.get(name))}
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            connection.request(request.command, f"{path}?{query}", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            passed = {name: value for name in ("Content-Type", "X-Influxdb-Error")
                      if (value := response.getheader(name))}
            self._answer(request, response.status, payload, passed)
        except OSError as error:
            self._answer(request, 502, json.dumps({"message": f"upstream: {error}"}).encode(),
                         {"Content-Type": "application/json"})
        finally:
            connection.close()

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, payload: bytes,
                headers: dict[str, str]) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    directory = tmp_path / "victoria-metrics"
    directory.mkdir()
    server = VictoriaMetrics(free_port(), directory)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def influxd(tmp_path: Path) -> Iterator[Influxd]:
    directory = tmp_path / "influxd"
    directory.mkdir()
    server = Influxd(free_port(), directory, rpc_port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def influx_proxy(influxd: Influxd) -> Iterator[WriteProxy]:
    """influxd 1.6 reachable through /api/v2/write (see WriteProxy): use `influx_proxy.url`."""
    proxy = WriteProxy(influxd.port)
    proxy.start()
    yield proxy
    proxy.stop()
