"""SMS through an HTTP gateway (the operator's or an aggregator's), configured, not coded.

The request body is a JSON template whose string values may hold `{phone}` and `{text}`:
    {"to": "{phone}", "content": "{text}", "sign_name": "守望"}
Placeholders are replaced inside the parsed JSON, so a message cannot break its quoting.
An SMS is a pager: the text is the title and the place, within one segment (`sms_text`).
The phone goes as the roster spells it, spaces and dashes removed (`+8613800000001`).
2xx is delivered; a gateway that reports errors inside a 200 is not understood here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
import orjson
from pydantic import SecretStr

from hub.channels.base import DeliveryResult, Notification, optional_secret
from hub.channels.http_post import HttpPoster, status_result
from hub.channels.render import compact_phone, sms_text

DEFAULT_TEMPLATE: Mapping[str, object] = {"phone": "{phone}", "text": "{text}"}


def fill(template: object, phone: str, text: str) -> object:
    """The template with `{phone}` and `{text}` replaced in every string, keys included."""
    if isinstance(template, str):
        return template.replace("{phone}", phone).replace("{text}", text)
    if isinstance(template, Mapping):
        return {fill(k, phone, text): fill(v, phone, text) for k, v in template.items()}
    if isinstance(template, list | tuple):
        return [fill(v, phone, text) for v in template]
    return template


class SmsGateway:
    def __init__(self, url: str, *, template: str | Mapping[str, object] = DEFAULT_TEMPLATE,
                 token: str | SecretStr | None = None, lang: str = "zh",
                 max_chars: int | None = None, timeout: float = 5.0, name: str = "sms",
                 client: httpx.AsyncClient | None = None) -> None:
        self.name = name
        self._url = url
        if isinstance(template, str):
            try:
                template = json.loads(template)
            except json.JSONDecodeError as exc:
                raise ValueError(f"SMS body template is not JSON: {exc}") from None
        self._template = template
        self._token = optional_secret(token)
        self._lang = lang
        self._max_chars = max_chars
        self._poster = HttpPoster(name, timeout=timeout, client=client, secrets=[self._token])

    def __repr__(self) -> str:
        auth = "bearer=***" if self._token else "no auth"
        return f"SmsGateway(name={self.name!r}, host={httpx.URL(self._url).host!r}, {auth})"

    async def send(self, notification: Notification) -> DeliveryResult:
        recipient = notification.recipient
        if recipient is None or not recipient.phone:
            who = recipient.id if recipient else "no recipient"
            return self._poster.failed(f"{who}: no phone number to text", retryable=False)
        text = sms_text(notification, self._lang, self._max_chars)
        body = orjson.dumps(fill(self._template, compact_phone(recipient.phone), text))
        headers = {"Content-Type": "application/json", "Idempotency-Key": notification.key}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        answer = await self._poster.post(self._url, content=body, headers=headers)
        if isinstance(answer, DeliveryResult):
            return answer
        return status_result(self._poster, answer)

    async def close(self) -> None:
        await self._poster.close()
