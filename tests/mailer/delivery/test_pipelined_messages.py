"""Messages pipelined across transactions (RFC 2920): the next envelope is written with the end of
the message before it, against a real aiosmtpd server. Every reply must still reach its own
message, whatever the server answers or however it goes away."""

from __future__ import annotations

import asyncio

import pytest

from mailer.core.urls import parse_smtp_url
from mailer.delivery.outcomes import Outcome, Verdict
from mailer.delivery.transport import SMTPTransport
from tests.support.smtpd import SMTPServer, count_writes

MESSAGE = b"From: a@news.example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\n.leading dot\r\nbody\r\n"
SPAM = "554 5.7.1 Message rejected as spam"


async def _send_together(server: SMTPServer, recipients: list[str], *, pool_size: int = 1) -> list[Outcome]:
    """All at once on ``pool_size`` connections: every send but the first waits for a connection."""
    transport = SMTPTransport(parse_smtp_url(server.url), pool_size=pool_size)
    try:
        return list(await asyncio.gather(
            *(transport.send("b@news.example.com", r, MESSAGE) for r in recipients)))
    finally:
        await transport.close()


async def test_a_waiting_message_s_envelope_goes_out_with_the_end_of_the_one_before(
    smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = count_writes(monkeypatch)
    recipients = [f"r{n}@example.org" for n in range(5)]
    outcomes = await _send_together(smtp_server, recipients)
    assert [o.verdict for o in outcomes] == [Verdict.SENT] * 5
    assert [r.rcpt_tos for r in smtp_server.received] == [(r,) for r in recipients]
    assert {r.data for r in smtp_server.received} == {MESSAGE}  # nothing of an envelope leaked in
    assert smtp_server.handler.connections == 1
    writes = [w for w in writes if w != b"QUIT\r\n"]
    # one envelope, then each message's end with the next envelope, then the last end: 6, not 10
    assert len(writes) == 6
    assert writes[0].startswith(b"MAIL FROM:") and writes[0].endswith(b"DATA\r\n")
    for n, joined in enumerate(writes[1:5], start=1):
        assert joined.startswith(b"From: ") and f"RCPT TO:<r{n}@example.org>".encode() in joined
        assert joined.endswith(b"\r\n.\r\nMAIL FROM:<b@news.example.com>\r\n"
                               + f"RCPT TO:<r{n}@example.org>\r\nDATA\r\n".encode())
    assert writes[5].endswith(b"\r\n.\r\n") and b"MAIL FROM" not in writes[5]


async def test_without_pipelining_nothing_is_written_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes = count_writes(monkeypatch)
    with SMTPServer(pipelining=False) as server:
        outcomes = await _send_together(server, [f"r{n}@example.org" for n in range(4)])
        assert [o.verdict for o in outcomes] == [Verdict.SENT] * 4
        assert server.handler.connections == 1
    writes = [w for w in writes if w != b"QUIT\r\n"]
    assert len(writes) == 4 * 4 and all(w.count(b"\r\n") == 1 for w in writes if w.startswith(b"MAIL"))


async def test_a_drop_after_the_end_leaves_that_message_unknown_and_the_next_sent_once(
    smtp_server: SMTPServer,
) -> None:
    smtp_server.fail("data", "ok", "drop")  # the second message is taken, then the connection dies
    outcomes = await _send_together(smtp_server, ["r0@example.org", "r1@example.org", "r2@example.org"])
    assert outcomes[0].verdict is Verdict.SENT
    assert outcomes[1].verdict is Verdict.UNKNOWN and "after DATA" in outcomes[1].message
    # its envelope went out behind the dropped message's end and got no reply: nothing was said
    # about it, so it went again at once on a fresh connection
    assert outcomes[2].verdict is Verdict.SENT
    assert [r.rcpt_tos for r in smtp_server.received] == [("r0@example.org",), ("r1@example.org",),
                                                           ("r2@example.org",)]
    assert smtp_server.handler.connections == 2


async def test_a_refused_recipient_behind_a_message_in_flight_is_its_own_failure(
    smtp_server: SMTPServer,
) -> None:
    smtp_server.reject("gone@example.org")
    outcomes = await _send_together(smtp_server, ["r0@example.org", "gone@example.org", "r2@example.org"])
    assert [o.verdict for o in outcomes] == [Verdict.SENT, Verdict.FAILED, Verdict.SENT]
    assert outcomes[1].code == 550 and outcomes[1].message.startswith("RCPT:")
    assert [r.rcpt_tos for r in smtp_server.received] == [("r0@example.org",), ("r2@example.org",)]
    assert smtp_server.handler.connections == 1  # RSET, and the same connection goes on


async def test_a_refused_sender_behind_a_message_in_flight_is_retried_not_blamed_on_the_one_before(
    smtp_server: SMTPServer,
) -> None:
    smtp_server.fail("mail", "ok", 451)
    outcomes = await _send_together(smtp_server, ["r0@example.org", "r1@example.org", "r2@example.org"])
    assert [(o.verdict, o.code) for o in outcomes] == [(Verdict.SENT, 250), (Verdict.RETRY, 451),
                                                       (Verdict.SENT, 250)]
    assert outcomes[1].message.startswith("MAIL:")
    assert smtp_server.handler.connections == 1


async def test_a_refused_message_does_not_touch_the_envelope_written_behind_it(smtp_server: SMTPServer) -> None:
    smtp_server.fail("data", SPAM)
    outcomes = await _send_together(smtp_server, ["r0@example.org", "r1@example.org"])
    assert [(o.verdict, o.code) for o in outcomes] == [(Verdict.REFUSED, 554), (Verdict.SENT, 250)]
    assert [r.rcpt_tos for r in smtp_server.received] == [("r1@example.org",)]
    assert smtp_server.handler.connections == 1


async def test_many_sends_on_a_small_pool_use_only_its_connections(smtp_server: SMTPServer) -> None:
    recipients = [f"r{n}@example.org" for n in range(60)]
    outcomes = await _send_together(smtp_server, recipients, pool_size=3)
    assert [o.verdict for o in outcomes] == [Verdict.SENT] * 60
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == sorted(recipients)
    assert smtp_server.handler.connections == 3


async def test_a_cancelled_send_gives_its_place_back(smtp_server: SMTPServer) -> None:
    smtp_server.handler.delay = 0.5  # the first message is slow to be answered
    transport = SMTPTransport(parse_smtp_url(smtp_server.url), pool_size=1)
    try:
        first = asyncio.create_task(transport.send("b@news.example.com", "r0@example.org", MESSAGE))
        waiting = asyncio.create_task(transport.send("b@news.example.com", "r1@example.org", MESSAGE))
        await asyncio.sleep(0.1)
        waiting.cancel()  # its envelope may already be on the connection behind the first message
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await first  # whatever became of the first one, the pool is usable again
        smtp_server.handler.delay = 0.0
        after = await asyncio.wait_for(transport.send("b@news.example.com", "r2@example.org", MESSAGE), 10)
    finally:
        await transport.close()
    assert after.verdict is Verdict.SENT
    assert ("r2@example.org",) in [r.rcpt_tos for r in smtp_server.received]
