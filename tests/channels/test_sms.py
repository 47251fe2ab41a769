"""The SMS gateway: the configured JSON template filled safely, bearer token, pager text."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.channels.base import Notification
from hub.channels.render import sms_text
from hub.channels.sms import SmsGateway
from tests.channels.conftest import Receiver

TEMPLATE = '{"to": ["{phone}"], "body": {"content": "{text}", "sign": "守望"}, "retry": 0}'


async def test_template_filled_and_authorised(receiver: Receiver,
                                              notification: Notification) -> None:
    n = replace(notification, place_zh='1号楼 "东" 单元\\101')   # quotes and a backslash
    sms = SmsGateway(f"{receiver.url}/send", template=TEMPLATE, token="sms-token", timeout=2)
    try:
        result = await sms.send(n)
    finally:
        await sms.close()
    assert (result.ok, result.detail) == (True, "200 OK")
    [request] = receiver.requests
    assert request.headers["authorization"] == "Bearer sms-token"
    assert request.headers["idempotency-key"] == n.key
    body = request.json()
    assert body == {"to": ["+8613800000002"], "body": {"content": sms_text(n), "sign": "守望"},
                    "retry": 0}
    assert len(sms_text(n)) <= 70


async def test_default_template_no_token(receiver: Receiver, drill: Notification) -> None:
    sms = SmsGateway(receiver.url, timeout=2)
    try:
        result = await sms.send(drill)
    finally:
        await sms.close()
    assert result.ok
    [request] = receiver.requests
    assert "authorization" not in request.headers
    assert request.json() == {"phone": "+8613800000002",
                              "text": "【演练】【特别严重】火警报警：1号楼 1层 101室 测试社区"}


async def test_no_phone_is_not_retryable(receiver: Receiver, notification: Notification) -> None:
    sms = SmsGateway(receiver.url, timeout=2)
    try:
        no_phone = replace(notification.recipient, phone=None)
        result = await sms.send(replace(notification, recipient=no_phone))
        nobody = await sms.send(replace(notification, recipient=None))
    finally:
        await sms.close()
    assert (result.ok, result.retryable) == (False, False)
    assert result.detail == "b1-lead: no phone number to text"
    assert nobody.detail == "no recipient: no phone number to text"
    assert receiver.requests == []


def test_template_must_be_json() -> None:
    with pytest.raises(ValueError, match="SMS body template is not JSON"):
        SmsGateway("http://127.0.0.1:1/", template='{"to": {phone}}')
