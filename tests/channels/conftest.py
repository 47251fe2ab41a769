"""Real receivers for the channels: an HTTP server that records and misbehaves on request, an
SMTP server (aiosmtpd), and a notification to send through them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from hub.channels.base import Notification, Recipient
from tests.conftest import free_port

# 2025-11-26 10:00:00 +08:00
T0 = 1764122400.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on a free loopback port. By default it answers 200 with `answer`;
    `fail(status)` makes it answer an error, `hang()` makes it never answer."""

    requests: list[Received] = field(default_factory=list)
    status: int = 200
    answer: bytes = b'{"errcode": 0, "errmsg": "ok"}'
    hanging: bool = False
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def reply(self, status: int = 200, answer: object = None) -> None:
        self.status = status
        if answer is not None:
            self.answer = answer if isinstance(answer, bytes) else json.dumps(answer).encode()

    def hang(self) -> None:
        self.hanging = True

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            parts = urlsplit(self.path)
            receiver.requests.append(Received(
                "POST", parts.path, parse_qs(parts.query), parts.query,
                {k.lower(): v for k, v in self.headers.items()}, body))
            if receiver.hanging:
                receiver.release.wait(30)
                return
            self.send_response(receiver.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(receiver.answer)))
            self.end_headers()
            self.wfile.write(receiver.answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def down_url() -> str:
    """An address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


# ------------------------------------------------------------------------------------ SMTP

@dataclass(frozen=True)
class Mail:
    sender: str
    recipients: list[str]
    data: bytes


class MailBox:
    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.reject_with: str | None = None

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
            self, server: SMTP, session: Session, envelope: Envelope, address: str,
            rcpt_options: list[str]) -> str:
        if self.reject_with is not None:
            return self.reject_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
            self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.mail_from is not None
        assert envelope.content is not None
        data = envelope.original_content or envelope.content
        assert isinstance(data, bytes)
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), data))
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class SmtpServer:
    port: int
    box: MailBox


SmtpFactory = Callable[..., SmtpServer]


@pytest.fixture
def start_smtp() -> Iterator[SmtpFactory]:
    """Start a real aiosmtpd server on a free port; keyword arguments go to its SMTP class."""
    controllers: list[Controller] = []

    def start(**smtp_options: Any) -> SmtpServer:
        box = MailBox()
        port = free_port()
        controller = Controller(box, hostname="127.0.0.1", port=port, **smtp_options)
        controller.start()
        controllers.append(controller)
        return SmtpServer(port, box)

    yield start
    for controller in controllers:
        controller.stop()


# ----------------------------------------------------------------------------- the message

LEADER = Recipient("b1-lead", "张伟", "building_leader", phone="+86 138-0000-0002",
                   email="zhangwei@example.org")


@pytest.fixture
def notification() -> Notification:
    return Notification(
        key="a1b2c3:raised:b1-lead", site_id="testsite", site_name="测试社区",
        alert_id="a1b2c3", transition="raised", severity="critical", category="fire",
        rule_id="smoke_alarm", message_zh="1号楼 1层 101室烟感报警（b1-101-smoke），请立即核实火情",
        message_en="Smoke alarm at 1号楼, floor 1, unit 101 (b1-101-smoke): verify the fire",
        place_id="b1/f1/101", place_zh="1号楼 1层 101室", raised_at=T0, ts=T0,
        recipient=LEADER, link="http://127.0.0.1:8080/alerts/a1b2c3")


@pytest.fixture
def drill(notification: Notification) -> Notification:
    return replace(notification, exercise=True, key="a1b2c3:raised:drill")
