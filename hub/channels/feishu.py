"""飞书 (Feishu / Lark) custom bot, with the 签名校验 (signature) security setting.

POST `<base_url>/<hook id>` with a `post` (rich text) message; with a secret the body also
carries `timestamp` (seconds, within an hour of Feishu's clock) and
    sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))
(note: the string is the key and the message is empty — unlike DingTalk). The bot answers
`{"code": 0, "msg": "success"}` (older deployments: `StatusCode` / `StatusMessage`).
Code 11232 (rate limited) is retryable; 19021 (bad sign), 19024 (IP) and others are not.
A custom bot cannot @-mention by phone, so the recipient is named in the text only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx
import orjson
from pydantic import SecretStr

from hub.channels.base import DeliveryResult, Notification, optional_secret, secret
from hub.channels.http_post import HttpPoster, robot_result
from hub.channels.render import DEFAULT_TIMEZONE, render

BASE_URL = "https://open.feishu.cn/open-apis/bot/v2/hook"
_RETRYABLE = frozenset({11232})


def sign(timestamp: str, secret_key: str) -> str:
    digest = hmac.new(f"{timestamp}\n{secret_key}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class FeishuBot:
    def __init__(self, hook_id: str | SecretStr, *, secret_key: str | SecretStr | None = None,
                 base_url: str = BASE_URL, lang: str = "zh", timezone: str = DEFAULT_TIMEZONE,
                 timeout: float = 5.0, name: str = "feishu",
                 client: httpx.AsyncClient | None = None) -> None:
        self.name = name
        self._hook = secret(hook_id)
        self._secret = optional_secret(secret_key)
        self._base_url = base_url.rstrip("/")
        self._lang = lang
        self._timezone = timezone
        self._poster = HttpPoster(name, timeout=timeout, client=client,
                                  secrets=[self._hook, self._secret])

    def __repr__(self) -> str:
        signed = "signed" if self._secret else "unsigned"
        return f"FeishuBot(name={self.name!r}, base_url={self._base_url!r}, hook=***, {signed})"

    def message(self, n: Notification) -> dict[str, object]:
        text = render(n, self._lang, self._timezone)
        lines: list[list[dict[str, str]]] = [
            [{"tag": "text", "text": f"{label}: {value}"}] for label, value in text.fields]
        if n.recipient is not None:
            to = "通知" if self._lang == "zh" else "For"
            lines.insert(0, [{"tag": "text", "text": f"{to}: {n.recipient.name}"}])
        if text.link:
            lines.append([{"tag": "a", "text": text.link_label, "href": text.link}])
        locale = "zh_cn" if self._lang == "zh" else "en_us"
        message: dict[str, object] = {
            "msg_type": "post",
            "content": {"post": {locale: {"title": text.title, "content": lines}}}}
        if self._secret is not None:
            timestamp = str(int(time.time()))
            message = {"timestamp": timestamp,
                       "sign": sign(timestamp, self._secret.get_secret_value()), **message}
        return message

    async def send(self, notification: Notification) -> DeliveryResult:
        url = f"{self._base_url}/{self._hook.get_secret_value()}"
        answer = await self._poster.post(url, content=orjson.dumps(self.message(notification)),
                                         headers={"Content-Type": "application/json"})
        if isinstance(answer, DeliveryResult):
            return answer
        return robot_result(self._poster, answer, code_keys=["code", "StatusCode"],
                            message_keys=["msg", "StatusMessage"], retryable_codes=_RETRYABLE)

    async def close(self) -> None:
        await self._poster.close()
