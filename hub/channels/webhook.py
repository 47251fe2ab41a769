"""Generic webhook: the notification as JSON, signed, with an idempotency key.

Headers:
    X-Shouwang-Timestamp: <unix seconds>
    X-Shouwang-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
    Idempotency-Key:      <notification key>
A receiver recomputes the HMAC over the raw body, rejects stale timestamps, and dedupes on
the key. 2xx is delivered; 408, 429, 5xx, timeouts and connection errors are retryable.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import orjson
from pydantic import SecretStr

from hub.channels.base import DeliveryResult, Notification, notification_json, optional_secret
from hub.channels.http_post import HttpPoster, status_result


def signature(key: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class Webhook:
    def __init__(self, url: str, *, secret_key: str | SecretStr | None = None,
                 timeout: float = 5.0, name: str = "webhook",
                 client: httpx.AsyncClient | None = None) -> None:
        self.name = name
        self._url = url
        self._secret = optional_secret(secret_key)
        self._poster = HttpPoster(name, timeout=timeout, client=client, secrets=[self._secret])

    def __repr__(self) -> str:
        signed = "signed" if self._secret else "unsigned"
        return f"Webhook(name={self.name!r}, host={httpx.URL(self._url).host!r}, {signed})"

    async def send(self, notification: Notification) -> DeliveryResult:
        body = orjson.dumps(notification_json(notification))
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "Idempotency-Key": notification.key,
                   "X-Shouwang-Timestamp": timestamp}
        if self._secret is not None:
            headers["X-Shouwang-Signature"] = signature(self._secret.get_secret_value(),
                                                        timestamp, body)
        answer = await self._poster.post(self._url, content=body, headers=headers)
        if isinstance(answer, DeliveryResult):
            return answer
        return status_result(self._poster, answer)

    async def close(self) -> None:
        await self._poster.close()
