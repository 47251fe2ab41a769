"""The generic webhook against a real receiver: signature, idempotency key, JSON body."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import replace

from hub.channels.base import Notification, notification_json
from hub.channels.webhook import Webhook
from tests.channels.conftest import Receiver


async def test_signed_json_post(receiver: Receiver, notification: Notification) -> None:
    channel = Webhook(f"{receiver.url}/shouwang", secret_key="hmac-secret", timeout=2)
    before = int(time.time())
    try:
        result = await channel.send(notification)
    finally:
        await channel.close()
    assert (result.ok, result.detail, result.status) == (True, "200 OK", 200)
    [request] = receiver.requests
    assert request.path == "/shouwang"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "a1b2c3:raised:b1-lead"
    timestamp = request.headers["x-shouwang-timestamp"]
    assert before <= int(timestamp) <= time.time()
    # What a receiver does: recompute the HMAC over timestamp + "." + the raw body.
    expected = hmac.new(b"hmac-secret", timestamp.encode() + b"." + request.body,
                        hashlib.sha256).hexdigest()
    assert request.headers["x-shouwang-signature"] == f"sha256={expected}"
    body = request.json()
    assert body == notification_json(notification)
    assert body["recipient"] == {"id": "b1-lead", "name": "张伟", "role": "building_leader",
                                 "phone": "+86 138-0000-0002", "email": "zhangwei@example.org"}
    assert body["exercise"] is False


async def test_unsigned_drill(receiver: Receiver, drill: Notification) -> None:
    channel = Webhook(f"{receiver.url}/shouwang", timeout=2)
    try:
        result = await channel.send(replace(drill, recipient=None, count=40))
    finally:
        await channel.close()
    assert result.ok
    [request] = receiver.requests
    assert "x-shouwang-signature" not in request.headers
    body = request.json()
    assert (body["exercise"], body["count"], body["recipient"]) == (True, 40, None)


async def test_any_2xx_is_delivered(receiver: Receiver, notification: Notification) -> None:
    receiver.reply(202, b"")
    channel = Webhook(receiver.url, secret_key="hmac-secret", timeout=2)
    try:
        result = await channel.send(notification)
    finally:
        await channel.close()
    assert (result.ok, result.status, result.detail) == (True, 202, "202 Accepted")
    assert "hmac-secret" not in repr(channel)
