"""钉钉 (DingTalk) custom robot, with the 加签 (signing) security setting.

POST `<base_url>?access_token=<token>&timestamp=<ms>&sign=<sign>` where
    sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))
and the timestamp is milliseconds, within an hour of DingTalk's clock. The body is
`{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {"atMobiles", "isAtAll"}}`; a
mentioned phone must also appear as `@<phone>` in the text to be highlighted. The robot
answers `{"errcode": 0, "errmsg": "ok"}`; 130101 (over 20 messages a minute) and -1 (busy)
are retryable, every other code (bad token, bad sign, keyword missing) is not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus

import httpx
import orjson
from pydantic import SecretStr

from hub.channels.base import DeliveryResult, Notification, optional_secret, secret
from hub.channels.http_post import HttpPoster, robot_result
from hub.channels.render import DEFAULT_TIMEZONE, local_mobile, render

BASE_URL = "https://oapi.dingtalk.com/robot/send"
_RETRYABLE = frozenset({-1, 130101})


def sign(timestamp_ms: str, secret_key: str) -> str:
    """The `sign` query value, already url-encoded."""
    digest = hmac.new(secret_key.encode(), f"{timestamp_ms}\n{secret_key}".encode(),
                      hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


class DingTalkRobot:
    def __init__(self, access_token: str | SecretStr, *,
                 secret_key: str | SecretStr | None = None, base_url: str = BASE_URL,
                 lang: str = "zh", timezone: str = DEFAULT_TIMEZONE, timeout: float = 5.0,
                 name: str = "dingtalk", client: httpx.AsyncClient | None = None) -> None:
        self.name = name
        self._token = secret(access_token)
        self._secret = optional_secret(secret_key)
        self._base_url = base_url
        self._lang = lang
        self._timezone = timezone
        self._poster = HttpPoster(name, timeout=timeout, client=client,
                                  secrets=[self._token, self._secret])

    def __repr__(self) -> str:
        signed = "signed" if self._secret else "unsigned"
        return (f"DingTalkRobot(name={self.name!r}, base_url={self._base_url!r}, "
                f"access_token=***, {signed})")

    def message(self, n: Notification) -> dict[str, object]:
        text = render(n, self._lang, self._timezone)
        mobiles = [local_mobile(n.recipient.phone)] if n.recipient and n.recipient.phone else []
        body = text.markdown() + "".join(f"\n\n@{m}" for m in mobiles)
        return {"msgtype": "markdown", "markdown": {"title": text.title, "text": body},
                "at": {"atMobiles": mobiles, "isAtAll": False}}

    def _url(self) -> str:
        url = f"{self._base_url}?access_token={quote_plus(self._token.get_secret_value())}"
        if self._secret is not None:
            timestamp = str(round(time.time() * 1000))
            url += f"&timestamp={timestamp}&sign={sign(timestamp, self._secret.get_secret_value())}"
        return url

    async def send(self, notification: Notification) -> DeliveryResult:
        answer = await self._poster.post(self._url(),
                                         content=orjson.dumps(self.message(notification)),
                                         headers={"Content-Type": "application/json"})
        if isinstance(answer, DeliveryResult):
            return answer
        return robot_result(self._poster, answer, code_keys=["errcode"],
                            message_keys=["errmsg"], retryable_codes=_RETRYABLE)

    async def close(self) -> None:
        await self._poster.close()
