"""The HTTP boundary of the channels: one POST, its transport errors translated once.

Every HTTP channel (webhook, robots, SMS gateway) posts through `HttpPoster` and reads the
answer with `status_result` or `robot_result`, so timeouts, refused connections and error
answers become the same `DeliveryResult`s everywhere, with secrets scrubbed from the detail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence

import httpx
from pydantic import SecretStr

from hub.channels.base import DeliveryResult, redact

logger = logging.getLogger(__name__)

USER_AGENT = "shouwang-hub"


class _HostOnly(logging.Filter):
    """httpx logs each request's full URL at INFO; robot URLs carry their token in the query
    (WeCom key, DingTalk access_token) or the path (Feishu hook). Keep scheme, host, port."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(f"{a.scheme}://{a.host}:{a.port or ''}/..."
                                if isinstance(a, httpx.URL) else a for a in record.args)
        return True


logging.getLogger("httpx").addFilter(_HostOnly())


class HttpPoster:
    """An `httpx.AsyncClient` (ours, or a shared one the caller closes) and a timeout."""

    def __init__(self, channel: str, *, timeout: float, client: httpx.AsyncClient | None = None,
                 secrets: Sequence[SecretStr | None] = ()) -> None:
        self.channel = channel
        self.timeout = timeout
        self._secrets = tuple(secrets)
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()

    async def post(self, url: str, *, content: bytes, headers: Mapping[str, str]
                   ) -> httpx.Response | DeliveryResult:
        """The answer, or a failed result saying why there was none."""
        try:
            return await self._client.post(
                url, content=content, timeout=self.timeout,
                headers={"User-Agent": USER_AGENT, **headers})
        except httpx.TimeoutException:
            return self.failed(f"timeout after {self.timeout:.1f} s", retryable=True)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return self.failed(f"bad URL: {exc}", retryable=False)
        except httpx.ConnectError as exc:
            where = httpx.URL(url)
            return self.failed(f"cannot connect to {where.host}:{where.port or ''}: {exc}",
                                retryable=True)
        except httpx.HTTPError as exc:
            return self.failed(f"{type(exc).__name__}: {exc}", retryable=True)

    def scrub(self, text: str) -> str:
        return redact(text, self._secrets)

    def failed(self, detail: str, *, retryable: bool, status: int | None = None
               ) -> DeliveryResult:
        """A failed result, logged, with every secret scrubbed from its detail."""
        detail = self.scrub(detail)
        logger.warning("%s: delivery failed: %s", self.channel, detail)
        return DeliveryResult(False, self.channel, detail, retryable, status)

    async def close(self) -> None:
        if self._own_client:
            await self._client.aclose()


def status_result(poster: HttpPoster, response: httpx.Response) -> DeliveryResult:
    """2xx is delivered; 408, 429 and 5xx are worth retrying; any other 4xx is not."""
    status = response.status_code
    detail = f"{status} {response.reason_phrase}".strip()
    if 200 <= status < 300:
        return DeliveryResult(True, poster.channel, detail, status=status)
    body = response.text.strip()[:200]
    if body:
        detail = f"{detail}: {body}"
    return poster.failed(detail, retryable=status in (408, 429) or status >= 500, status=status)


def robot_result(poster: HttpPoster, response: httpx.Response, *, code_keys: Sequence[str],
                 message_keys: Sequence[str], retryable_codes: Collection[int]
                 ) -> DeliveryResult:
    """An IM robot answers 200 with `{"errcode": 0, "errmsg": "ok"}` (or `code`/`msg`).

    A non-zero code is a failure; only the robot's rate-limit and system-busy codes are worth
    retrying, every other one (bad token, bad signature, bad message) needs a person.
    """
    if not 200 <= response.status_code < 300:
        return status_result(poster, response)
    status = response.status_code
    answer = _json_object(response)
    code = next((answer[k] for k in code_keys if k in answer), None)
    if not isinstance(code, int):
        snippet = response.text.strip()[:200]
        return poster.failed(f"unreadable answer: {snippet!r}", retryable=True, status=status)
    message = next((str(answer[k]) for k in message_keys if k in answer), "")
    if code == 0:
        return DeliveryResult(True, poster.channel, poster.scrub(message or "ok"), status=status)
    detail = f"{code} {message}".strip()
    return poster.failed(f"error {detail}", retryable=code in retryable_codes, status=status)


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        answer = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return answer if isinstance(answer, dict) else {}
