"""E-mail over SMTP: a plain-text and an HTML part, the Chinese subject RFC 2047-encoded.

The standard library's smtplib runs in a worker thread (`asyncio.to_thread`), one connection
per message: alerts are rare and this keeps no connection to go stale. `security` is
`starttls` (submission, port 587), `tls` (implicit TLS, port 465) or `plain` (a relay on the
same host, and tests). The Message-ID is derived from the idempotency key, so a mail system
sees a retried message as the same message.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

from pydantic import SecretStr

from hub.channels.base import DeliveryResult, Notification, optional_secret, redact
from hub.channels.render import DEFAULT_TIMEZONE, render

logger = logging.getLogger(__name__)

Security = Literal["plain", "starttls", "tls"]


class EmailChannel:
    def __init__(self, host: str, port: int = 587, *, sender: str, to: Sequence[str] = (),
                 security: Security = "starttls", username: str | None = None,
                 password: str | SecretStr | None = None, lang: str = "zh",
                 timezone: str = DEFAULT_TIMEZONE, timeout: float = 10.0, name: str = "email",
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.name = name
        self._host = host
        self._port = port
        self._sender = sender
        self._to = tuple(to)
        self._security = security
        self._username = username
        self._password = optional_secret(password)
        self._lang = lang
        self._timezone = timezone
        self._timeout = timeout
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        login = f"username={self._username!r}, password=***" if self._username else "no login"
        return (f"EmailChannel(name={self.name!r}, {self._host}:{self._port}, "
                f"{self._security}, {login})")

    def message(self, n: Notification, recipients: Sequence[str]) -> EmailMessage:
        text = render(n, self._lang, self._timezone)
        message = EmailMessage()
        message["Subject"] = text.title
        message["From"] = self._sender
        message["To"] = ", ".join(recipients)
        message["Date"] = formatdate(n.ts, localtime=False)
        digest = hashlib.sha256(n.key.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<{digest}@{n.site_id}.shouwang>"
        message["X-Shouwang-Key"] = n.key
        if n.exercise:
            message["X-Shouwang-Exercise"] = "yes"
        message.set_content(text.plain())
        message.add_alternative(text.html(), subtype="html")
        return message

    async def send(self, notification: Notification) -> DeliveryResult:
        recipients = [*self._to]
        if notification.recipient is not None and notification.recipient.email:
            recipients.insert(0, notification.recipient.email)
        if not recipients:
            return self._failed("no e-mail address to send to", retryable=False)
        message = self.message(notification, recipients)
        try:
            refused = await asyncio.to_thread(self._deliver, message, recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return self._failed(f"all recipients refused: {_refusals(exc.recipients)}",
                                retryable=all(400 <= c < 500 for c in codes))
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error
            if isinstance(reply, bytes):
                reply = reply.decode(errors="replace")
            return self._failed(f"{exc.smtp_code} {reply}",
                                retryable=400 <= exc.smtp_code < 500, status=exc.smtp_code)
        except smtplib.SMTPNotSupportedError as exc:
            return self._failed(f"server cannot: {exc}", retryable=False)
        except ssl.SSLCertVerificationError as exc:
            return self._failed(f"TLS certificate rejected: {exc.verify_message}",
                                retryable=False)
        except TimeoutError:
            return self._failed(f"timeout after {self._timeout:.1f} s", retryable=True)
        except (smtplib.SMTPException, OSError) as exc:
            return self._failed(f"cannot deliver via {self._host}:{self._port}: "
                                f"{type(exc).__name__}: {exc}", retryable=True)
        detail = "250 accepted"
        if refused:
            detail += f"; refused: {_refusals(refused)}"
        return DeliveryResult(True, self.name, detail, status=250)

    def _deliver(self, message: EmailMessage, recipients: list[str]
                 ) -> dict[str, tuple[int, bytes]]:
        """In a worker thread: connect, secure, log in, send. Raises smtplib's errors."""
        context = None if self._security == "plain" else (
            self._ssl_context or ssl.create_default_context())
        smtp: smtplib.SMTP
        if self._security == "tls":
            smtp = smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout,
                                    context=context)
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        with smtp:
            if self._security == "starttls":
                smtp.starttls(context=context)
            if self._username and self._password is not None:
                smtp.login(self._username, self._password.get_secret_value())
            return smtp.send_message(message, to_addrs=recipients)

    def _failed(self, detail: str, *, retryable: bool, status: int | None = None
                ) -> DeliveryResult:
        detail = redact(detail, [self._password])
        logger.warning("%s: delivery failed: %s", self.name, detail)
        return DeliveryResult(False, self.name, detail, retryable, status)

    async def close(self) -> None:
        """Nothing stays open between messages."""


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{addr} ({code} {reply.decode(errors='replace')})"
                     for addr, (code, reply) in refused.items())
