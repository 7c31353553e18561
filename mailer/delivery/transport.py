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
from aiosmtplib.errors import SMTPHeloError, SMTPResponseException
from aiosmtplib.response import SMTPResponse

from mailer.core.urls import SmtpConfig
from mailer.delivery.outcomes import Outcome, Verdict, classify
from mailer.delivery.pipelining import PipeliningProtocol, adopt

log = logging.getLogger(__name__)

_LONE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")


def wire_format(data: bytes) -> bytes:
    """The bytes of the DATA phase, ending with the final ".": CRLF line ends, dot-stuffed.

    The same transformation aiosmtplib's ``sendmail`` applies, done once here; the checks (three
    counts and a search, no copy) are all it costs for bytes that need nothing."""
    crlf = data.count(b"\r\n")
    if data.count(b"\r") != crlf or data.count(b"\n") != crlf:  # a lone CR or LF
        data = _LONE_LINE_END.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b".") or b"\n." in data:
        data = _LEADING_DOT.sub(b"..", data)
    return data + b".\r\n"


class Transport(Protocol):
    async def send(self, sender: str, recipient: str, data: bytes, *, canonical: bool = False) -> Outcome: ...

    async def close(self) -> None: ...


@dataclass
class MemoryTransport:
    """Keeps what it is given; ``script`` lists SMTP codes to answer before accepting."""

    sent: list[tuple[str, str, bytes]] = field(default_factory=list)
    script: list[int | None] = field(default_factory=list)

    async def send(self, sender: str, recipient: str, data: bytes, *, canonical: bool = False) -> Outcome:
        if self.script:
            code = self.script.pop(0)
            verdict = classify(code, "scripted", after_data=True)
            if verdict is not Verdict.SENT:
                return Outcome(verdict, code, "scripted")
        self.sent.append((sender, recipient, data))
        return Outcome(Verdict.SENT, 250, "OK")

    async def close(self) -> None:
        return None


@dataclass
class _Connection:
    smtp: aiosmtplib.SMTP
    protocol: PipeliningProtocol
    pipelining: bool  # the server offered PIPELINING: MAIL, RCPT and DATA go in one write

    @property
    def usable(self) -> bool:
        return self.smtp.is_connected and self.protocol.idle

    def close(self) -> None:
        self.smtp.close()


class SMTPTransport:
    """A pool of reused SMTP connections; a broken one is dropped and replaced.

    aiosmtplib opens each connection (greeting, STARTTLS, EHLO, AUTH); then the connection moves
    to ``PipeliningProtocol`` and each message costs one write of MAIL, RCPT and DATA (where the
    server offers PIPELINING, else one at a time), one write of the message, and their replies."""

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
        self._idle: asyncio.LifoQueue[_Connection] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(pool_size)

    async def _connect(self) -> _Connection:
        cfg = self.config
        smtp = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            use_tls=cfg.tls == "implicit",
            start_tls=cfg.tls == "starttls",
            timeout=self.timeout,
            local_hostname=self.local_hostname,
            tls_context=self.tls_context,
        )
        await smtp.connect()
        try:
            if cfg.username:
                await smtp.login(cfg.username, cfg.password or "")
            if smtp.is_ehlo_or_helo_needed:
                try:
                    await smtp.ehlo()
                except SMTPHeloError:
                    await smtp.helo()
        except (aiosmtplib.SMTPException, OSError):
            try:
                await smtp.quit()  # say goodbye, so the server closes its side too
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()
            raise
        return _Connection(smtp, adopt(smtp), smtp.supports_extension("pipelining"))

    async def send(self, sender: str, recipient: str, data: bytes, *, canonical: bool = False) -> Outcome:
        """``canonical``: ``data`` already has CRLF line ends, ends with one, and no line starts
        with "." (what ``MessageTemplate`` makes), so it goes out as it is."""
        async with self._slots:
            try:
                conn: _Connection | None = self._idle.get_nowait()
            except asyncio.QueueEmpty:
                conn = None
            if conn is not None and not conn.usable:
                conn.close()
                conn = None
            # A pooled connection the server has closed meanwhile fails at MAIL without a reply:
            # that says nothing about this message, so try once more on a fresh connection.
            for reused in (conn is not None, False):
                if conn is None:
                    try:
                        conn = await self._connect()
                    except (aiosmtplib.SMTPException, OSError) as exc:
                        # refused, TLS or AUTH trouble: about our relay, not this recipient
                        code = exc.code if isinstance(exc, SMTPResponseException) else None
                        return Outcome(Verdict.RETRY, code, f"connect: {exc}")
                try:
                    outcome, reusable, stale = await self._transaction(conn, sender, recipient, data, canonical)
                except BaseException:  # cancelled half-way: the connection is in an unknown state
                    conn.close()
                    raise
                if reusable and conn.usable:
                    self._idle.put_nowait(conn)
                else:
                    conn.close()
                if not (stale and reused):
                    return outcome
                conn = None
            return outcome

    async def _transaction(
        self, conn: _Connection, sender: str, recipient: str, data: bytes, canonical: bool
    ) -> tuple[Outcome, bool, bool]:
        """One MAIL/RCPT/DATA exchange: the outcome, whether the connection is still usable, and
        whether it was found dead before the server said anything about this message."""
        utf8 = not (recipient.isascii() and data.isascii())
        encoding = "utf-8" if utf8 else "ascii"  # an Arabic local part travels as UTF-8 (RFC 6531)
        try:
            mail = b"MAIL FROM:" + _path(sender, encoding) + (b" SMTPUTF8 BODY=8BITMIME" if utf8 else b"") + b"\r\n"
            rcpt = b"RCPT TO:" + _path(recipient, encoding) + b"\r\n"
        except ValueError as exc:
            return Outcome(Verdict.FAILED, None, str(exc)), True, False
        protocol = conn.protocol
        commands = (mail, rcpt, b"DATA\r\n")
        replies: list[SMTPResponse] = []
        written = 0
        try:
            if conn.pipelining:
                protocol.write(b"".join(commands))
                written = len(commands)
                replies = await protocol.read_replies(written, self.timeout)
            else:
                for step, command in enumerate(commands):
                    protocol.write(command)
                    written += 1
                    replies += await protocol.read_replies(1, self.timeout)
                    if len(replies) < written or replies[step].code not in _ACCEPTED[step]:
                        break
        except (aiosmtplib.SMTPException, OSError) as exc:
            protocol.failure = protocol.failure or exc
        for step, name in enumerate(_STEPS):
            if step == len(replies):
                reason = f"{name}: {protocol.failure}" if step == 0 else f"before DATA: {protocol.failure}"
                return Outcome(Verdict.RETRY, None, reason), False, step == 0
            code, message = replies[step]
            if code not in _ACCEPTED[step]:
                # The commands pipelined after a refused one were refused too (RFC 2920); only if
                # every reply came and none opened DATA can the connection go on, after a RSET.
                clean = len(replies) == written and all(r.code != 354 for r in replies)
                reusable = clean and code != 421 and await self._reset(conn)
                return Outcome(classify(code, message, stage=name), code, f"{name}: {message}"), reusable, False
        # From here on the server may have the message: no reply means "unknown", not "retry".
        try:
            protocol.write(data + b".\r\n" if canonical else wire_format(data))
            replies = await protocol.read_replies(1, self.data_timeout)
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(Verdict.UNKNOWN, None, f"after DATA: {exc}"), False, False
        if not replies:
            return Outcome(Verdict.UNKNOWN, None, f"after DATA: {protocol.failure}"), False, False
        code, message = replies[0]
        return Outcome(classify(code, message, after_data=True), code, message), code != 421, False

    @staticmethod
    async def _reset(conn: _Connection) -> bool:
        try:
            await conn.smtp.rset()
            return True
        except (aiosmtplib.SMTPException, OSError):
            return False

    async def close(self) -> None:
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            try:
                await conn.smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                conn.close()


_STEPS = ("MAIL", "RCPT", "DATA")
_ACCEPTED = ((250,), (250, 251), (354,))
_BAD_PATH = re.compile(r"[\x00-\x20\x7f<>]")


def _path(address: str, encoding: str) -> bytes:
    """``<address>`` for MAIL FROM or RCPT TO; an address that could break the command is refused."""
    if _BAD_PATH.search(address):
        raise ValueError(f"{address!r} cannot be put in an SMTP command (spaces, controls or <>)")
    return b"<" + address.encode(encoding) + b">"
