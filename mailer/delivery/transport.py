"""The transport seam: an SMTP implementation (a pool of aiosmtplib connections) and an
in-memory twin. A transport never raises for a delivery problem; it returns an ``Outcome``."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from enum import Enum
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
    handoffs: int = 0  # times a send handed it to the next one with that one's envelope written

    @property
    def usable(self) -> bool:
        return self.smtp.is_connected and self.protocol.idle

    def close(self) -> None:
        self.smtp.close()


# What a waiting send is given: a connection (None: the right to open one) and, when the message
# ahead wrote this one's envelope behind its own end, the future set once that message has its reply.
_Handed = tuple[_Connection | None, "asyncio.Future[None] | None"]


@dataclass(eq=False)
class _Rider:
    """A send waiting for a connection, with its envelope ready to be written for it."""

    envelope: bytes
    handed: asyncio.Future[_Handed]


class SMTPTransport:
    """A pool of reused SMTP connections; a broken one is dropped and replaced.

    aiosmtplib opens each connection (greeting, STARTTLS, EHLO, AUTH); then the connection moves
    to ``PipeliningProtocol`` and each message costs one write of MAIL, RCPT and DATA (where the
    server offers PIPELINING, else one at a time), one write of the message, and their replies.

    Where the server offers PIPELINING and a send is waiting for a connection, the message being
    sent writes the waiting one's envelope in the same write as its own end (RFC 2920 lets the
    message content open a group), so a busy connection costs one write and one wait a message.
    The replies come in order: the end's, then the envelope's; the second send reads its own only
    after the first has read its reply."""

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
        self.pool_size = pool_size
        self.timeout = timeout
        self.data_timeout = data_timeout  # RFC 5321 4.5.3.2.6: 10 minutes after the final "."
        self.local_hostname = local_hostname
        self.tls_context = tls_context
        self._idle: list[_Connection] = []
        self._open = 0  # connections open or being opened, at most pool_size
        self._riders: deque[_Rider] = deque()

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
        utf8 = not (recipient.isascii() and data.isascii())
        encoding = "utf-8" if utf8 else "ascii"  # an Arabic local part travels as UTF-8 (RFC 6531)
        try:
            envelope = (b"MAIL FROM:" + _path(sender, encoding) + (b" SMTPUTF8 BODY=8BITMIME" if utf8 else b"")
                        + b"\r\nRCPT TO:" + _path(recipient, encoding) + b"\r\nDATA\r\n")
        except ValueError as exc:
            return Outcome(Verdict.FAILED, None, str(exc))
        conn, turn = await self._acquire(envelope)
        # From here on this send holds a place in the pool: its connection, or the right to open
        # one. A pooled connection the server has closed meanwhile fails at MAIL without a reply:
        # that says nothing about this message, so it is tried once more on a fresh connection.
        handoffs = 0
        try:
            for reused in (conn is not None, False):
                if conn is None:
                    try:
                        conn = await self._connect()
                    except (aiosmtplib.SMTPException, OSError) as exc:
                        self._release(None)
                        # refused, TLS or AUTH trouble: about our relay, not this recipient
                        code = exc.code if isinstance(exc, SMTPResponseException) else None
                        return Outcome(Verdict.RETRY, code, f"connect: {exc}")
                handoffs = conn.handoffs
                outcome, after = await self._transaction(conn, envelope, data, canonical, turn)
                turn = None
                if after is _After.HANDED:  # the send behind this one carries on with the connection
                    return outcome
                if after is _After.KEEP:
                    self._release(conn)
                    return outcome
                conn.close()
                if not (after is _After.STALE and reused):
                    self._release(None)
                    return outcome
                conn = None
        except BaseException:  # cancelled half-way: the connection is in an unknown state
            if conn is not None:
                conn.close()
            if conn is None or conn.handoffs == handoffs:  # the place is still this send's
                self._release(None)
            raise
        raise AssertionError("unreachable: the second round always returns")

    async def _acquire(self, envelope: bytes) -> _Handed:
        """An idle connection, the right to open one, or a wait for a send to hand one over."""
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn, None
            conn.close()
            self._open -= 1
        if self._open < self.pool_size:
            self._open += 1
            return None, None
        rider = _Rider(envelope, asyncio.get_running_loop().create_future())
        self._riders.append(rider)
        try:
            return await rider.handed
        except asyncio.CancelledError:
            if not rider.handed.done() or rider.handed.cancelled():
                with suppress(ValueError):
                    self._riders.remove(rider)
            else:  # handed over just before the cancellation
                given, turn = rider.handed.result()
                if given is not None and turn is not None:
                    given.close()  # our envelope is on it, unanswered
                self._release(given)
            raise

    def _rider(self) -> _Rider | None:
        """The first send still waiting for a connection."""
        while self._riders and self._riders[0].handed.done():  # cancelled while waiting
            self._riders.popleft()
        return self._riders[0] if self._riders else None

    def _release(self, conn: _Connection | None) -> None:
        """Give a send's place in the pool, with its connection if still usable, to the first
        waiting send, or back to the pool."""
        if conn is not None and not conn.usable:
            conn.close()
            conn = None
        if (rider := self._rider()) is not None:
            self._riders.popleft()
            rider.handed.set_result((conn, None))
        elif conn is not None:
            self._idle.append(conn)
        else:
            self._open -= 1

    async def _transaction(
        self, conn: _Connection, envelope: bytes, data: bytes, canonical: bool, turn: asyncio.Future[None] | None
    ) -> tuple[Outcome, _After]:
        """One MAIL/RCPT/DATA exchange: the outcome, and what becomes of the connection. ``turn``:
        the envelope is already written, behind a message that sets ``turn`` once it has its reply."""
        protocol = conn.protocol
        replies: list[SMTPResponse] = []
        written = 0
        try:
            if turn is not None:
                await turn
                written = len(_STEPS)
                replies = await protocol.read_replies(written, self.timeout)
            elif conn.pipelining:
                protocol.write(envelope)
                written = len(_STEPS)
                replies = await protocol.read_replies(written, self.timeout)
            else:
                for step, command in enumerate(envelope.splitlines(keepends=True)):
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
                return Outcome(Verdict.RETRY, None, reason), _After.STALE if step == 0 else _After.DROP
            code, message = replies[step]
            if code not in _ACCEPTED[step]:
                # The commands pipelined after a refused one were refused too (RFC 2920); only if
                # every reply came and none opened DATA can the connection go on, after a RSET.
                clean = len(replies) == written and all(r.code != 354 for r in replies)
                reusable = clean and code != 421 and await self._reset(conn)
                outcome = Outcome(classify(code, message, stage=name), code, f"{name}: {message}")
                return outcome, _After.KEEP if reusable else _After.DROP
        # From here on the server may have the message: no reply means "unknown", not "retry".
        rider = self._rider() if conn.pipelining else None
        handed: asyncio.Future[None] | None = None
        behind = rider.envelope if rider is not None else b""
        try:
            protocol.write(b"".join((data, b".\r\n", behind)) if canonical else wire_format(data) + behind)
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(Verdict.UNKNOWN, None, f"after DATA: {exc}"), _After.DROP
        if rider is not None:
            self._riders.popleft()
            conn.handoffs += 1
            handed = asyncio.get_running_loop().create_future()
            rider.handed.set_result((conn, handed))
        try:
            replies = await protocol.read_replies(1, self.data_timeout)
        finally:
            if handed is not None and not handed.done():  # (done: cancelled by a cancelled rider)
                handed.set_result(None)
        after = _After.HANDED if handed is not None else _After.DROP
        if not replies:
            return Outcome(Verdict.UNKNOWN, None, f"after DATA: {protocol.failure}"), after
        code, message = replies[0]
        if handed is None and code != 421:
            after = _After.KEEP
        return Outcome(classify(code, message, after_data=True), code, message), after

    @staticmethod
    async def _reset(conn: _Connection) -> bool:
        try:
            await conn.smtp.rset()
            return True
        except (aiosmtplib.SMTPException, OSError):
            return False

    async def close(self) -> None:
        while self._idle:
            conn = self._idle.pop()
            self._open -= 1
            try:
                await conn.smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                conn.close()


class _After(Enum):
    """What becomes of a connection after a transaction."""

    KEEP = "keep"  # in sync: back to the pool
    DROP = "drop"  # broken or closing: closed
    STALE = "stale"  # found dead before the server said anything about this message: closed, try anew
    HANDED = "handed"  # the send behind this one carries on with it


_STEPS = ("MAIL", "RCPT", "DATA")
_ACCEPTED = ((250,), (250, 251), (354,))
_BAD_PATH = re.compile(r"[\x00-\x20\x7f<>]")


def _path(address: str, encoding: str) -> bytes:
    """``<address>`` for MAIL FROM or RCPT TO; an address that could break the command is refused."""
    if _BAD_PATH.search(address):
        raise ValueError(f"{address!r} cannot be put in an SMTP command (spaces, controls or <>)")
    return b"<" + address.encode(encoding) + b">"
