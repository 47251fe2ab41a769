"""E-mail through a real SMTP server (aiosmtpd on a free port)."""

from __future__ import annotations

import email
import email.policy
import logging
from dataclasses import replace
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from hub.channels.base import Notification
from hub.channels.email import EmailChannel
from tests.channels.conftest import SmtpFactory
from tests.conftest import free_port

SENDER = "守望 <shouwang@example.org>"


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_multipart_mail_with_chinese_subject(start_smtp: SmtpFactory,
                                                   notification: Notification) -> None:
    server = start_smtp()
    channel = EmailChannel("127.0.0.1", server.port, sender=SENDER, to=["duty@example.org"],
                           security="plain", timeout=5)
    result = await channel.send(notification)
    await channel.close()
    assert (result.ok, result.detail, result.status) == (True, "250 accepted", 250)
    [mail] = server.box.mails
    assert mail.sender == "shouwang@example.org"
    assert mail.recipients == ["zhangwei@example.org", "duty@example.org"]
    raw_subject = next(line for line in mail.data.split(b"\r\n") if line.startswith(b"Subject:"))
    assert raw_subject.isascii()   # RFC 2047 on the wire
    assert b"=?utf-8?" in raw_subject
    message = parse(mail.data)
    assert message["Subject"] == "【特别严重】火警报警"
    assert message["From"] == SENDER
    assert message["To"] == "zhangwei@example.org, duty@example.org"
    assert message["X-Shouwang-Key"] == notification.key
    assert message["Message-ID"].endswith("@testsite.shouwang>")
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "地点: 1号楼 1层 101室" in plain.get_content()
    assert "查看详情: http://127.0.0.1:8080/alerts/a1b2c3" in plain.get_content()
    assert "<h3>【特别严重】火警报警</h3>" in html.get_content()
    assert '<a href="http://127.0.0.1:8080/alerts/a1b2c3">' in html.get_content()


async def test_drill_in_english(start_smtp: SmtpFactory, drill: Notification) -> None:
    server = start_smtp()
    channel = EmailChannel("127.0.0.1", server.port, sender="hub@example.org",
                           security="plain", lang="en", timeout=5)
    result = await channel.send(drill)
    assert result.ok
    message = parse(server.box.mails[0].data)
    assert message["Subject"] == "[DRILL] [CRITICAL] Fire alert"
    assert message["X-Shouwang-Exercise"] == "yes"
    plain = message.get_body(("plain",))
    assert plain is not None
    assert "Note: This is a drill, not a real alert" in plain.get_content()


def _authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                   auth_data: object) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"hub", b"right-password")
    return AuthResult(success=ok, handled=False)


async def test_login(start_smtp: SmtpFactory, notification: Notification,
                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = start_smtp(authenticator=_authenticator, auth_require_tls=False)
    good = EmailChannel("127.0.0.1", server.port, sender=SENDER, security="plain",
                        username="hub", password="right-password", timeout=5)
    bad = EmailChannel("127.0.0.1", server.port, sender=SENDER, security="plain",
                       username="hub", password="wrong-password", timeout=5)
    assert (await good.send(notification)).ok
    result = await bad.send(notification)
    assert (result.ok, result.retryable, result.status) == (False, False, 535)
    assert result.detail.startswith("535 ")
    assert len(server.box.mails) == 1
    for text in (result.detail, repr(bad), caplog.text):
        assert "wrong-password" not in text
    assert "password=***" in repr(bad)


@pytest.mark.parametrize(("reply", "retryable"), [
    ("550 5.1.1 No such mailbox", False), ("450 4.2.1 Mailbox busy, try later", True)])
async def test_refused_recipient(start_smtp: SmtpFactory, notification: Notification,
                                 reply: str, retryable: bool) -> None:
    server = start_smtp()
    server.box.reject_with = reply
    channel = EmailChannel("127.0.0.1", server.port, sender=SENDER, security="plain", timeout=5)
    result = await channel.send(notification)
    assert (result.ok, result.retryable) == (False, retryable)
    assert result.detail == f"all recipients refused: zhangwei@example.org ({reply})"
    assert server.box.mails == []


async def test_server_down(notification: Notification) -> None:
    port = free_port()
    channel = EmailChannel("127.0.0.1", port, sender=SENDER, security="plain", timeout=2)
    result = await channel.send(notification)
    assert (result.ok, result.retryable) == (False, True)
    assert result.detail.startswith(f"cannot deliver via 127.0.0.1:{port}: ConnectionRefusedError")


async def test_starttls_not_offered(start_smtp: SmtpFactory, notification: Notification) -> None:
    server = start_smtp()   # no TLS context: the server does not offer STARTTLS
    channel = EmailChannel("127.0.0.1", server.port, sender=SENDER, timeout=5)
    result = await channel.send(notification)
    assert (result.ok, result.retryable) == (False, False)
    assert result.detail == "server cannot: STARTTLS extension not supported by server."


async def test_nobody_to_mail(notification: Notification) -> None:
    channel = EmailChannel("127.0.0.1", 1, sender=SENDER, security="plain")
    result = await channel.send(replace(notification, recipient=None))
    assert (result.ok, result.retryable, result.detail) == (
        False, False, "no e-mail address to send to")
