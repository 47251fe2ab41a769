"""企业微信 (WeCom) group robot.

POST `<base_url>?key=<robot key>` with `{"msgtype": "markdown", "markdown": {"content": ...}}`;
the robot answers `{"errcode": 0, "errmsg": "ok"}`. Its markdown cannot @-mention by phone,
so with `mention=True` and a recipient phone the message goes as `text` with
`mentioned_mobile_list` instead. The key is the robot's only credential: it is a secret.
A robot takes 20 messages a minute; errcode 45009 (rate limit) and -1 (busy) are retryable.
"""

from __future__ import annotations

import httpx
import orjson
from pydantic import SecretStr

from hub.channels.base import DeliveryResult, Notification, secret
from hub.channels.http_post import HttpPoster, robot_result
from hub.channels.render import DEFAULT_TIMEZONE, local_mobile, render

BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
_RETRYABLE = frozenset({-1, 45009})


class WeComRobot:
    def __init__(self, key: str | SecretStr, *, base_url: str = BASE_URL, lang: str = "zh",
                 timezone: str = DEFAULT_TIMEZONE, mention: bool = False, timeout: float = 5.0,
                 name: str = "wecom", client: httpx.AsyncClient | None = None) -> None:
        self.name = name
        self._key = secret(key)
        self._base_url = base_url
        self._lang = lang
        self._timezone = timezone
        self._mention = mention
        self._poster = HttpPoster(name, timeout=timeout, client=client, secrets=[self._key])

    def __repr__(self) -> str:
        return f"WeComRobot(name={self.name!r}, base_url={self._base_url!r}, key=***)"

    def message(self, n: Notification) -> dict[str, object]:
        text = render(n, self._lang, self._timezone)
        phone = n.recipient.phone if n.recipient else None
        if self._mention and phone:
            return {"msgtype": "text", "text": {"content": text.plain(),
                                                "mentioned_mobile_list": [local_mobile(phone)]}}
        return {"msgtype": "markdown", "markdown": {"content": text.markdown()}}

    async def send(self, notification: Notification) -> DeliveryResult:
        url = str(httpx.URL(self._base_url, params={"key": self._key.get_secret_value()}))
        answer = await self._poster.post(url, content=orjson.dumps(self.message(notification)),
                                         headers={"Content-Type": "application/json"})
        if isinstance(answer, DeliveryResult):
            return answer
        return robot_result(self._poster, answer, code_keys=["errcode"],
                            message_keys=["errmsg"], retryable_codes=_RETRYABLE)

    async def close(self) -> None:
        await self._poster.close()
