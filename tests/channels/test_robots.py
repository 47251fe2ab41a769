"""WeCom, DingTalk and Feishu robots against a real receiver standing in for their servers:
the documented message structure, the signature recomputed from what arrived, and the
robot's error codes (errcode / code) deciding ok and retryable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import replace

import pytest

from hub.channels.base import DeliveryResult, Notification
from hub.channels.dingtalk import DingTalkRobot
from hub.channels.feishu import FeishuBot
from hub.channels.wecom import WeComRobot
from tests.channels.conftest import Receiver

# ------------------------------------------------------------------------------- WeCom


async def wecom_send(receiver: Receiver, n: Notification, **options: object) -> DeliveryResult:
    robot = WeComRobot("wecom-key", base_url=f"{receiver.url}/cgi-bin/webhook/send",
                       timeout=2, **options)
    try:
        return await robot.send(n)
    finally:
        await robot.close()


async def test_wecom_markdown(receiver: Receiver, drill: Notification) -> None:
    result = await wecom_send(receiver, drill)
    assert (result.ok, result.detail, result.status) == (True, "ok", 200)
    [request] = receiver.requests
    assert request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": ["wecom-key"]}
    body = request.json()
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith("### 【演练】【特别严重】火警报警\n\n")
    assert "**地点**: 1号楼 1层 101室" in content
    assert "[查看详情](http://127.0.0.1:8080/alerts/a1b2c3)" in content


async def test_wecom_mentions_by_phone_as_text(receiver: Receiver,
                                               notification: Notification) -> None:
    result = await wecom_send(receiver, notification, mention=True, lang="en")
    assert result.ok
    body = receiver.requests[0].json()
    assert body["msgtype"] == "text"
    text = body["text"]
    assert text["mentioned_mobile_list"] == ["13800000002"]
    assert text["content"].startswith("[CRITICAL] Fire alert\nCommunity: 测试社区")


@pytest.mark.parametrize(("answer", "retryable"), [
    ({"errcode": 93000, "errmsg": "invalid webhook url"}, False),
    ({"errcode": 40008, "errmsg": "invalid message type"}, False),
    ({"errcode": 45009, "errmsg": "api freq out of limit"}, True),
    ({"errcode": -1, "errmsg": "system busy"}, True),
])
async def test_wecom_errcode(receiver: Receiver, notification: Notification,
                             answer: dict[str, object], retryable: bool) -> None:
    receiver.reply(200, answer)
    result = await wecom_send(receiver, notification)
    assert (result.ok, result.retryable, result.status) == (False, retryable, 200)
    assert result.detail == f"error {answer['errcode']} {answer['errmsg']}"


async def test_wecom_unreadable_answer(receiver: Receiver, notification: Notification) -> None:
    receiver.reply(200, b"<html>captive portal</html>")
    result = await wecom_send(receiver, notification)
    assert (result.ok, result.retryable) == (False, True)
    assert result.detail == "unreadable answer: '<html>captive portal</html>'"


# ---------------------------------------------------------------------------- DingTalk


async def dingtalk_send(receiver: Receiver, n: Notification, secret: str | None = "SECding"
                        ) -> DeliveryResult:
    robot = DingTalkRobot("ding-token", secret_key=secret, base_url=f"{receiver.url}/robot/send",
                          timeout=2)
    try:
        return await robot.send(n)
    finally:
        await robot.close()


async def test_dingtalk_signed_markdown_with_at(receiver: Receiver,
                                               notification: Notification) -> None:
    before = time.time() * 1000
    result = await dingtalk_send(receiver, notification)
    assert result.ok, result.detail
    [request] = receiver.requests
    assert request.path == "/robot/send"
    assert request.query["access_token"] == ["ding-token"]
    [timestamp] = request.query["timestamp"]
    assert before - 1 <= int(timestamp) <= time.time() * 1000 + 1   # milliseconds
    # sign = urlencode(base64(HMAC-SHA256(key=secret, "timestamp\nsecret"))), recomputed:
    digest = hmac.new(b"SECding", f"{timestamp}\nSECding".encode(), hashlib.sha256).digest()
    assert request.query["sign"] == [base64.b64encode(digest).decode()]
    raw_sign = request.raw_query.split("sign=", 1)[1]
    assert "+" not in raw_sign
    assert "/" not in raw_sign
    assert "=" not in raw_sign
    body = request.json()
    assert body["msgtype"] == "markdown"
    markdown = body["markdown"]
    assert markdown["title"] == "【特别严重】火警报警"
    assert markdown["text"].startswith("### 【特别严重】火警报警")
    assert markdown["text"].endswith("\n\n@13800000002")
    assert body["at"] == {"atMobiles": ["13800000002"], "isAtAll": False}


async def test_dingtalk_unsigned_without_recipient(receiver: Receiver,
                                                   drill: Notification) -> None:
    result = await dingtalk_send(receiver, replace(drill, recipient=None), secret=None)
    assert result.ok
    [request] = receiver.requests
    assert set(request.query) == {"access_token"}
    body = request.json()
    assert body["at"] == {"atMobiles": [], "isAtAll": False}
    assert body["markdown"]["title"].startswith("【演练】")


@pytest.mark.parametrize(("answer", "retryable"), [
    ({"errcode": 310000, "errmsg": "sign not match"}, False),
    ({"errcode": 300001, "errmsg": "token is not exist"}, False),
    ({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, True),
])
async def test_dingtalk_errcode(receiver: Receiver, notification: Notification,
                                answer: dict[str, object], retryable: bool) -> None:
    receiver.reply(200, answer)
    result = await dingtalk_send(receiver, notification)
    assert (result.ok, result.retryable) == (False, retryable)
    assert result.detail == f"error {answer['errcode']} {answer['errmsg']}"


# ------------------------------------------------------------------------------ Feishu


async def feishu_send(receiver: Receiver, n: Notification, lang: str = "zh") -> DeliveryResult:
    bot = FeishuBot("hook-id-123", secret_key="feishu-secret", lang=lang,
                    base_url=f"{receiver.url}/open-apis/bot/v2/hook/", timeout=2)
    try:
        return await bot.send(n)
    finally:
        await bot.close()


async def test_feishu_signed_post(receiver: Receiver, notification: Notification) -> None:
    receiver.reply(200, {"code": 0, "msg": "success", "data": {}})
    before = int(time.time())
    result = await feishu_send(receiver, notification)
    assert (result.ok, result.detail) == (True, "success")
    [request] = receiver.requests
    assert request.path == "/open-apis/bot/v2/hook/hook-id-123"
    body = request.json()
    timestamp = body["timestamp"]
    assert isinstance(timestamp, str)
    assert before <= int(timestamp) <= time.time()   # seconds
    # sign = base64(HMAC-SHA256(key="timestamp\nsecret", msg="")), recomputed:
    digest = hmac.new(f"{timestamp}\nfeishu-secret".encode(), b"", hashlib.sha256).digest()
    assert body["sign"] == base64.b64encode(digest).decode()
    assert body["msg_type"] == "post"
    post = body["content"]["post"]["zh_cn"]
    assert post["title"] == "【特别严重】火警报警"
    lines = post["content"]
    assert lines[0] == [{"tag": "text", "text": "通知: 张伟"}]
    assert [{"tag": "text", "text": "地点: 1号楼 1层 101室"}] in lines
    assert lines[-1] == [{"tag": "a", "text": "查看详情",
                          "href": "http://127.0.0.1:8080/alerts/a1b2c3"}]


async def test_feishu_english_drill(receiver: Receiver, drill: Notification) -> None:
    receiver.reply(200, {"StatusCode": 0, "StatusMessage": "success"})   # older answer form
    result = await feishu_send(receiver, drill, lang="en")
    assert result.ok
    post = receiver.requests[0].json()["content"]["post"]
    assert list(post) == ["en_us"]
    assert post["en_us"]["title"] == "[DRILL] [CRITICAL] Fire alert"


@pytest.mark.parametrize(("answer", "retryable"), [
    ({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}, False),
    ({"code": 9499, "msg": "Bad Request"}, False),
    ({"code": 11232, "msg": "frequency limited"}, True),
])
async def test_feishu_code(receiver: Receiver, notification: Notification,
                           answer: dict[str, object], retryable: bool) -> None:
    receiver.reply(200, answer)
    result = await feishu_send(receiver, notification)
    assert (result.ok, result.retryable) == (False, retryable)
    assert result.detail == f"error {answer['code']} {answer['msg']}"
