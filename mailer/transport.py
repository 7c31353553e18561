"""The transport seam: an SMTP implementation (a pool of aiosmtplib connections) and an
in-memory twin. A transport never raises for a delivery problem; it returns an ``Outcome``."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from dataclasses import dataclass, field
from typing import Protocol

import aiosmtplib
from aiosmtplib.errors import SMTPResponseException

from mailer.outcomes import Outcome, Verdict, classify
from mailer.settings import SmtpConfig

log = logging.getLogger(__name__)

_LONE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")


def wire_format(data: bytes) -> bytes:
    """The bytes of the DATA phase, ending with the final ".": CRLF line ends, dot-stuffed.

    The same transformation aiosmtplib's ``sendmail`` applies, done once here; our own composed
    messages already have CRLF and no leading dots, so the checks are all this usually costs."""
    if data.count(b"\n") != data.count(b"\r\n") or b"\r" in data.replace(b"\r\n", b""):
        data = _LONE_LINE_END.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b".") or b"\n." in data:
        data = _LEADING_DOT.sub(b"..", data)
    return data + b".\r\n"


class Transport(Protocol):
    async def send(self, sender: str, recipient: str, data: bytes) -> Outcome: ...

    async def close(self) -> None: ...


@dataclass
class MemoryTransport:
    """Keeps what it is given; ``script`` lists SMTP codes to answer before accepting."""

    sent: list[tuple[str, str, bytes]] = field(default_factory=list)
    script: list[int | None] = field(default_factory=list)

    async def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        if self.script:
            code = self.script.pop(0)
            verdict = classify(code, after_data=True)
            if verdict is not Verdict.SENT:
                return Outcome(verdict, code, "scripted")
        self.sent.append((sender, recipient, data))
        return Outcome(Verdict.SENT, 250, "OK")

    async def close(self) -> None:
        return None


class SMTPTransport:
    """A pool of reused aiosmtplib connections; a broken one is dropped and replaced."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        pool_size: int = 4,
        timeout: float = 60.0,
        data_timeout: float = 600.0,
        local_hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.data_timeout = data_timeout  # RFC 5321 4.5.3.2.6: 10 minutes after the final "."
        self.local_hostname = local_hostname
        self.tls_context = tls_context
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(pool_size)

    async def _connect(self) -> aiosmtplib.SMTP:
        cfg = self.config
        smtp = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            use_tls=cfg.tls == "implicit",
            start_tls=True if cfg.tls == "starttls" else False,
            timeout=self.timeout,
            local_hostname=self.local_hostname,
            tls_context=self.tls_context,
        )
        await smtp.connect()
        if cfg.username:
            try:
                await smtp.login(cfg.username, cfg.password or "")
            except (aiosmtplib.SMTPException, OSError):
                try:
                    await smtp.quit()  # say goodbye, so the server closes its side too
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()
                raise
        return smtp

    async def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        async with self._slots:
            try:
                smtp: aiosmtplib.SMTP | None = self._idle.get_nowait()
            except asyncio.QueueEmpty:
                smtp = None
            # A pooled connection the server has closed meanwhile fails at MAIL without a reply:
            # that says nothing about this message, so try once more on a fresh connection.
            for reused in (smtp is not None, False):
                if smtp is None:
                    try:
                        smtp = await self._connect()
                    except (aiosmtplib.SMTPException, OSError) as exc:
                        # refused, TLS or AUTH trouble: about our relay, not this recipient
                        code = exc.code if isinstance(exc, SMTPResponseException) else None
                        return Outcome(Verdict.RETRY, code, f"connect: {exc}")
                outcome, reusable, stale = await self._transaction(smtp, sender, recipient, data)
                if reusable and smtp.is_connected:
                    self._idle.put_nowait(smtp)
                else:
                    smtp.close()
                if not (stale and reused):
                    return outcome
                smtp = None
            return outcome

    async def _transaction(
        self, smtp: aiosmtplib.SMTP, sender: str, recipient: str, data: bytes
    ) -> tuple[Outcome, bool, bool]:
        """One MAIL/RCPT/DATA exchange: the outcome, whether the connection is still usable, and
        whether it was found dead before the server said anything about this message."""
        utf8 = not (data.isascii() and recipient.isascii())
        options = ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else []
        encoding = "utf-8" if utf8 else "ascii"  # an Arabic local part travels as UTF-8 (RFC 6531)
        try:
            await smtp.mail(sender, options=options, encoding=encoding)
        except SMTPResponseException as exc:
            reusable = await self._reset(smtp)
            return Outcome(classify(exc.code), exc.code, f"MAIL: {exc.message}"), reusable, False
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(Verdict.RETRY, None, f"MAIL: {exc}"), False, True
        try:
            await smtp.rcpt(recipient, encoding=encoding)
            reply = await smtp.execute_command(b"DATA")
            if reply.code != 354:
                reusable = await self._reset(smtp)
                return Outcome(classify(reply.code), reply.code, f"DATA: {reply.message}"), reusable, False
        except SMTPResponseException as exc:
            reusable = await self._reset(smtp)
            return Outcome(classify(exc.code), exc.code, f"RCPT: {exc.message}"), reusable, False
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(Verdict.RETRY, None, f"before DATA: {exc}"), False, False
        # From here on the server may have the message: no reply means "unknown", not "retry".
        try:
            smtp.protocol.write(wire_format(data))  # type: ignore[union-attr]
            reply = await smtp.protocol.read_response(timeout=self.data_timeout)  # type: ignore[union-attr]
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(Verdict.UNKNOWN, None, f"after DATA: {exc}"), False, False
        return Outcome(classify(reply.code, after_data=True), reply.code, reply.message), True, False

    @staticmethod
    async def _reset(smtp: aiosmtplib.SMTP) -> bool:
        try:
            await smtp.rset()
            return True
        except (aiosmtplib.SMTPException, OSError):
            return False

    async def close(self) -> None:
        while not self._idle.empty():
            smtp = self._idle.get_nowait()
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()
