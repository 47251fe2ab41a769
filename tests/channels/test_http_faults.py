"""Every HTTP channel against a real receiver that fails: error answers, a hang past the
timeout, nobody listening. Each must come back with a result (never raise), say why, mark
what a retry can fix, and keep its secrets out of the detail, repr() and the logs."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from hub.channels.base import Channel, Notification
from hub.channels.dingtalk import DingTalkRobot
from hub.channels.feishu import FeishuBot
from hub.channels.sms import SmsGateway
from hub.channels.webhook import Webhook
from hub.channels.wecom import WeComRobot
from tests.channels.conftest import Receiver

TIMEOUT = 0.3
SECRETS = ("HMAC-S3CRET-1", "WECOM-KEY-2", "DING-TOKEN-3", "SECding-4", "FEISHU-HOOK-5",
           "FEISHU-SEC-6", "SMS-TOKEN-7")

Factory = Callable[[str], Channel]
FACTORIES: dict[str, Factory] = {
    "webhook": lambda url: Webhook(f"{url}/hook", secret_key="HMAC-S3CRET-1", timeout=TIMEOUT),
    "wecom": lambda url: WeComRobot("WECOM-KEY-2", base_url=f"{url}/cgi-bin/webhook/send",
                                    timeout=TIMEOUT),
    "dingtalk": lambda url: DingTalkRobot("DING-TOKEN-3", secret_key="SECding-4",
                                          base_url=f"{url}/robot/send", timeout=TIMEOUT),
    "feishu": lambda url: FeishuBot("FEISHU-HOOK-5", secret_key="FEISHU-SEC-6",
                                    base_url=f"{url}/open-apis/bot/v2/hook", timeout=TIMEOUT),
    "sms": lambda url: SmsGateway(f"{url}/sms", token="SMS-TOKEN-7", timeout=TIMEOUT),
}
channels = pytest.mark.parametrize("kind", list(FACTORIES))


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for s in SECRETS:
            assert s not in text, f"secret {s} leaked into {text!r}"


@channels
@pytest.mark.parametrize(("status", "retryable"), [
    (500, True), (503, True), (408, True), (429, True), (400, False), (401, False),
    (404, False)])
async def test_error_status(kind: str, status: int, retryable: bool, receiver: Receiver,
                            notification: Notification, caplog: pytest.LogCaptureFixture
                            ) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.reply(status, b"the receiver says no")
    channel = FACTORIES[kind](receiver.url)
    try:
        result = await channel.send(notification)
    finally:
        await channel.close()
    assert len(receiver.requests) == 1
    assert not result.ok
    assert result.channel == kind
    assert result.status == status
    assert result.retryable is retryable
    assert result.detail.startswith(f"{status} ")
    assert result.detail.endswith(": the receiver says no")
    assert_no_secret(result.detail, repr(channel), caplog.text)


@channels
async def test_hang_past_the_timeout(kind: str, receiver: Receiver, notification: Notification,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.hang()
    channel = FACTORIES[kind](receiver.url)
    try:
        result = await channel.send(notification)
    finally:
        await channel.close()
    assert (result.ok, result.retryable, result.status) == (False, True, None)
    assert result.detail == f"timeout after {TIMEOUT:.1f} s"
    assert_no_secret(caplog.text)


@channels
async def test_receiver_down(kind: str, down_url: str, notification: Notification,
                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    channel = FACTORIES[kind](down_url)
    try:
        result = await channel.send(notification)
    finally:
        await channel.close()
    assert (result.ok, result.retryable) == (False, True)
    port = down_url.rsplit(":", 1)[1]
    assert result.detail.startswith(f"cannot connect to 127.0.0.1:{port}: ")
    assert_no_secret(result.detail, caplog.text)


@channels
async def test_success_logs_no_secret(kind: str, receiver: Receiver, notification: Notification,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.reply(200, {"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"})
    channel = FACTORIES[kind](receiver.url)
    try:
        result = await channel.send(notification)
    finally:
        await channel.close()
    assert result.ok, result.detail
    assert result.status == 200
    assert "HTTP Request: POST http://127.0.0.1:" in caplog.text  # httpx's line, host only
    assert_no_secret(result.detail, repr(channel), caplog.text)


async def test_bad_url_is_not_retryable(notification: Notification) -> None:
    channel = Webhook("ftp://127.0.0.1/hook", timeout=TIMEOUT)
    try:
        result = await channel.send(notification)
    finally:
        await channel.close()
    assert (result.ok, result.retryable) == (False, False)
    assert result.detail.startswith("bad URL: ")
