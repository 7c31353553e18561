"""The pipelining extension of aiosmtplib's protocol, against peers that answer exactly as told.

aiosmtpd cannot glue replies together, split them mid-line or send garbage, so these peers are
small asyncio servers that write scripted bytes; the transport's tests use aiosmtpd."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiosmtplib
import pytest
from aiosmtplib.errors import SMTPReadTimeoutError, SMTPResponseException, SMTPServerDisconnected

from mailer.delivery.pipelining import PipeliningProtocol, adopt

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 peer ready\r\n")
    assert (await reader.readline()).startswith(b"EHLO")
    writer.write(b"250-peer\r\n250 PIPELINING\r\n")
    await writer.drain()


@asynccontextmanager
async def connected(script: Script) -> AsyncIterator[tuple[aiosmtplib.SMTP, PipeliningProtocol]]:
    """An aiosmtplib connection, moved onto ``PipeliningProtocol``, to a peer running ``script``."""
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await _greet(reader, writer)
            await script(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, local_hostname="client")
    await smtp.connect()
    await smtp.ehlo()
    try:
        yield smtp, adopt(smtp)
    finally:
        smtp.close()  # the peer's script reads end of file and ends
        await asyncio.wait_for(asyncio.gather(*handlers, return_exceptions=True), 5)
        server.close()
        await server.wait_closed()


async def test_replies_that_arrive_together_are_all_kept() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(3):
            await reader.readline()
        writer.write(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")  # one packet
        await writer.drain()
        await reader.read()

    async with connected(script) as (smtp, protocol):
        assert smtp.supports_extension("pipelining")
        protocol.write(b"MAIL FROM:<a@news.example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        replies = await protocol.read_replies(3, timeout=5)
        assert [r.code for r in replies] == [250, 250, 354]
        assert replies[1].message == "2.1.5 Ok"
        assert protocol.idle  # nothing left over, nothing failed


async def test_a_reply_split_anywhere_is_put_together() -> None:
    reply = b"250-first line\r\n250-second line\r\n250 last line\r\n"

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        for cut in (3, 17, 18, 40):  # inside a code, at a line end, inside a line
            writer.write(reply[:cut])
            await writer.drain()
            await asyncio.sleep(0.02)
            reply_rest = reply[cut:]
            writer.write(reply_rest)
            await writer.drain()
            await reader.readline()
        await reader.read()

    async with connected(script) as (_, protocol):
        for _ in range(4):
            protocol.write(b"NOOP\r\n")
            (got,) = await protocol.read_replies(1, timeout=5)
            assert got == (250, "first line\nsecond line\nlast line")


async def test_aiosmtplibs_own_commands_keep_working() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readline() == b"RSET\r\n"
        writer.write(b"250 2.0.0 Ok\r\n")
        assert await reader.readline() == b"QUIT\r\n"
        writer.write(b"221 2.0.0 Bye\r\n")
        await writer.drain()

    async with connected(script) as (smtp, _):
        assert (await smtp.rset()).code == 250
        assert (await smtp.quit()).code == 221


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (b"hello there\r\n", SMTPResponseException, "Malformed"),
        (b"250-" + b"x" * 9000 + b"\r\n", SMTPResponseException, "too long"),
        (None, SMTPServerDisconnected, ""),  # the peer hangs up
    ],
)
async def test_a_broken_reply_fails_the_connection(answer: bytes | None, error: type, words: str) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        if answer is not None:
            writer.write(answer)
            await writer.drain()
            await reader.read()

    async with connected(script) as (_, protocol):
        protocol.write(b"NOOP\r\n")
        assert await protocol.read_replies(1, timeout=5) == []
        assert isinstance(protocol.failure, error) and words in str(protocol.failure)
        assert not protocol.idle


async def test_replies_that_came_before_the_peer_hung_up_are_kept() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"421 4.3.2 Shutting down\r\n")
        await writer.drain()

    async with connected(script) as (_, protocol):
        protocol.write(b"MAIL FROM:<a@news.example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        replies = await protocol.read_replies(3, timeout=5)
        assert [r.code for r in replies] == [421]
        assert isinstance(protocol.failure, SMTPServerDisconnected)


async def test_no_reply_in_time_is_a_timeout_and_ends_the_connection() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers

    async with connected(script) as (_, protocol):
        protocol.write(b"NOOP\r\n")
        assert await protocol.read_replies(1, timeout=0.1) == []
        assert isinstance(protocol.failure, SMTPReadTimeoutError)
        assert not protocol.idle  # a late reply would be paired with the wrong command


async def test_a_reply_nobody_asked_for_makes_the_connection_unfit() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.1)
        writer.write(b"421 4.4.2 Idle for too long\r\n")  # unasked, as a server about to close does
        await writer.drain()
        await reader.read()

    async with connected(script) as (_, protocol):
        for _ in range(100):
            if not protocol.idle:
                break
            await asyncio.sleep(0.01)
        assert not protocol.idle
