"""RFC 2920 command pipelining for aiosmtplib: its protocol, extended to keep every reply.

aiosmtplib's ``SMTPProtocol`` parses one reply per read and drops what else arrived in the same
packet, so commands cannot be written together. ``PipeliningProtocol`` queues every complete
reply in order; ``read_replies(n)`` takes the next ``n`` (with one deadline for all of them), and
``read_response`` takes one, so aiosmtplib's own commands (RSET, QUIT) keep working on it.
``adopt`` moves a connected ``aiosmtplib.SMTP`` (greeting, STARTTLS, EHLO and AUTH done by
aiosmtplib) onto this protocol through asyncio's ``Transport.set_protocol``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import cast

import aiosmtplib
from aiosmtplib.errors import (
    SMTPReadTimeoutError,
    SMTPResponseException,
    SMTPServerDisconnected,
)
from aiosmtplib.protocol import MAX_LINE_LENGTH, MAX_RESPONSE_LENGTH, SMTPProtocol
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import SMTPStatus


class PipeliningProtocol(SMTPProtocol):
    """``SMTPProtocol`` whose replies are queued, never dropped; ``failure`` says why no more come."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        connection_lost_callback: Callable[[SMTPProtocol], None] | None = None,
    ) -> None:
        super().__init__(loop=loop, connection_lost_callback=connection_lost_callback)
        self._incoming = bytearray()
        self._replies: deque[SMTPResponse] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._wanted = 0
        self.failure: BaseException | None = None

    @property
    def idle(self) -> bool:
        """Connected, in sync, and nothing unasked-for has arrived (a server about to close
        sends ``421`` on its own): safe to start a new transaction on."""
        return self.is_connected and self.failure is None and not self._replies and not self._incoming

    def data_received(self, data: bytes) -> None:
        if self.failure is not None:
            return
        buffer = self._incoming
        buffer.extend(data)
        consumed = start = 0
        lines: list[bytes] = []
        while (end := buffer.find(b"\n", start)) != -1:
            line = bytes(buffer[start : end + 1])
            start = end + 1
            if len(line) > MAX_LINE_LENGTH:
                return self._fail(SMTPResponseException(SMTPStatus.invalid_response.value, "Response too long"))
            try:
                code = int(line[:3])
            except ValueError:
                text = line.decode("utf-8", errors="ignore")
                return self._fail(
                    SMTPResponseException(SMTPStatus.invalid_response.value, f"Malformed SMTP response line: {text}")
                )
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":  # the last line of a reply
                self._replies.append(SMTPResponse(code, b"\n".join(lines).decode("utf-8", "surrogateescape")))
                lines = []
                consumed = start
        del buffer[:consumed]
        if len(buffer) > MAX_RESPONSE_LENGTH:
            return self._fail(SMTPResponseException(SMTPStatus.invalid_response.value, "Response too long"))
        self._wake()

    def eof_received(self) -> bool:
        self._fail(SMTPServerDisconnected("Unexpected EOF received"))
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        lost = SMTPServerDisconnected("Connection lost")
        lost.__cause__ = exc
        self._fail(lost)
        super().connection_lost(exc)

    def _fail(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done() and (
            len(self._replies) >= self._wanted or self.failure is not None
        ):
            waiter.set_result(None)

    def _time_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            # a late reply would be paired with the wrong command: this connection is done for
            self._fail(SMTPReadTimeoutError("Timed out waiting for server response"))

    async def read_replies(self, count: int, timeout: float | None) -> list[SMTPResponse]:
        """The next ``count`` replies in order; fewer when the connection failed or ``timeout``
        seconds passed first (``failure`` then says which)."""
        if len(self._replies) < count and self.failure is None:
            waiter = self._loop.create_future()
            self._waiter, self._wanted = waiter, count
            timer = self._loop.call_later(timeout, self._time_out, waiter) if timeout is not None else None
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        replies = self._replies
        return [replies.popleft() for _ in range(min(count, len(replies)))]

    async def read_response(self, timeout: float | None = None) -> SMTPResponse:
        replies = await self.read_replies(1, timeout)
        if replies:
            return replies[0]
        if self._quit_sent and isinstance(self.failure, SMTPServerDisconnected):
            return SMTPResponse(SMTPStatus.closing.value, "")  # closed after QUIT: as good as 221
        raise cast(BaseException, self.failure)


def adopt(smtp: aiosmtplib.SMTP) -> PipeliningProtocol:
    """Put a connected ``smtp`` on a ``PipeliningProtocol``; its own methods go on working."""
    transport, loop = smtp.transport, smtp.loop
    if smtp.protocol is None or transport is None or loop is None or transport.is_closing():
        raise SMTPServerDisconnected("Server not connected")

    def lost(protocol: SMTPProtocol) -> None:
        if protocol is smtp.protocol:
            smtp.close()

    protocol = PipeliningProtocol(loop=loop, connection_lost_callback=lost)
    protocol.connection_made(transport)
    transport.set_protocol(protocol)
    smtp.protocol = protocol
    return protocol
