"""The SMTP transport against real aiosmtpd servers: STARTTLS, implicit TLS, AUTH, timeouts."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from mailer.core.urls import parse_smtp_url
from mailer.delivery.limits import LimitedTransport
from mailer.delivery.outcomes import Verdict
from mailer.delivery.service import Service
from mailer.delivery.transport import SMTPTransport
from tests.support.smtpd import SMTPServer, count_writes
from tests.support.tls import self_signed

MESSAGE = b"From: a@news.example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\n.leading dot\r\nbody\r\n"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def _authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"relay", b"s3cret")
    return AuthResult(success=ok, handled=False)


def _client_context(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False  # the test server answers on 127.0.0.1
    return context


@pytest.fixture
def starttls_server(tls_files: tuple[Path, Path]) -> Iterator[SMTPServer]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(*tls_files)
    with SMTPServer(tls_context=server_context, require_starttls=True, authenticator=_authenticate,
                    auth_require_tls=True, auth_exclude_mechanism=["CRAM-MD5", "LOGIN"]) as server:
        yield server


async def test_starttls_and_auth_from_the_url(starttls_server: SMTPServer, tls_files: tuple[Path, Path]) -> None:
    config = parse_smtp_url(f"smtp+starttls://relay:s3cret@127.0.0.1:{starttls_server.port}")
    transport = SMTPTransport(config, tls_context=_client_context(tls_files[0]))
    try:
        outcomes = [await transport.send("bounces@news.example.com", f"r{n}@example.org", MESSAGE) for n in range(3)]
    finally:
        await transport.close()
    assert [o.verdict for o in outcomes] == [Verdict.SENT] * 3
    assert starttls_server.handler.connections == 2  # EHLO before and after STARTTLS, one connection
    received = starttls_server.received[0]
    assert received.data.replace(b"\r\n", b"\n") == MESSAGE.replace(b"\r\n", b"\n")  # dot-stuffing undone


async def test_a_wrong_password_is_retried_not_failed(starttls_server: SMTPServer, tls_files: tuple[Path, Path]) -> None:
    config = parse_smtp_url(f"smtp+starttls://relay:wrong@127.0.0.1:{starttls_server.port}")
    transport = SMTPTransport(config, tls_context=_client_context(tls_files[0]), timeout=10)
    outcome = await transport.send("bounces@news.example.com", "r@example.org", MESSAGE)
    await transport.close()
    assert outcome.verdict is Verdict.RETRY and outcome.code == 535  # our relay's fault, not the reader's
    assert starttls_server.received == []


async def test_implicit_tls(tls_files: tuple[Path, Path]) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(*tls_files)
    with SMTPServer(ssl_context=server_context) as server:
        config = parse_smtp_url(f"smtps://127.0.0.1:{server.port}")
        transport = SMTPTransport(config, tls_context=_client_context(tls_files[0]))
        outcome = await transport.send("bounces@news.example.com", "r@example.org", MESSAGE)
        await transport.close()
        assert outcome.verdict is Verdict.SENT and len(server.received) == 1


async def test_connections_are_pooled_and_reused(smtp_server: SMTPServer) -> None:
    transport = SMTPTransport(parse_smtp_url(smtp_server.url), pool_size=2)
    try:
        for n in range(10):
            assert (await transport.send("b@news.example.com", f"r{n}@example.org", MESSAGE)).verdict is Verdict.SENT
    finally:
        await transport.close()
    assert smtp_server.handler.connections == 1 and len(smtp_server.received) == 10


async def test_no_reply_within_the_data_timeout_is_unknown(smtp_server: SMTPServer) -> None:
    smtp_server.handler.delay = 1.0
    transport = SMTPTransport(parse_smtp_url(smtp_server.url), data_timeout=0.2)
    try:
        outcome = await transport.send("b@news.example.com", "r@example.org", MESSAGE)
    finally:
        await transport.close()
    assert outcome.verdict is Verdict.UNKNOWN and "after DATA" in outcome.message
    assert len(smtp_server.wait_for(1)) == 1  # the server did get it: hence "unknown", not "failed"
    await asyncio.sleep(0.3)  # let the server notice the closed connection before it stops


async def test_the_service_waits_ten_minutes_after_data(service: Service) -> None:
    transport = service.transport
    assert isinstance(transport, LimitedTransport) and isinstance(transport.inner, SMTPTransport)
    assert transport.inner.data_timeout == 600.0  # RFC 5321, not aiosmtplib's 60 s default
    assert transport.inner.timeout == 60.0
    assert transport.domains.limit == service.settings.domain_concurrency


@pytest.mark.parametrize("pipelining", [True, False])
async def test_mail_rcpt_and_data_go_in_one_write_where_the_server_offers_pipelining(
    pipelining: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = count_writes(monkeypatch)
    with SMTPServer(pipelining=pipelining) as server:
        transport = SMTPTransport(parse_smtp_url(server.url), pool_size=1)
        try:
            for n in range(5):
                assert (await transport.send("b@news.example.com", f"r{n}@example.org", MESSAGE)).verdict is Verdict.SENT
        finally:
            await transport.close()
        assert [r.rcpt_tos for r in server.received] == [(f"r{n}@example.org",) for n in range(5)]
        assert server.handler.connections == 1
    writes = [w for w in writes if w != b"QUIT\r\n"]
    envelopes = [w for w in writes if w.startswith(b"MAIL FROM:")]
    assert len(envelopes) == 5
    if pipelining:
        assert all(w.endswith(b"\r\nDATA\r\n") and b"RCPT TO:" in w for w in envelopes)
        assert len(writes) == 5 * 2  # the envelope, then the message
    else:
        assert all(w.count(b"\r\n") == 1 for w in envelopes)
        assert len(writes) == 5 * 4  # MAIL, RCPT, DATA, the message


@pytest.mark.parametrize("pipelining", [True, False])
async def test_a_refusal_inside_a_pipelined_envelope_leaves_the_connection_usable(
    smtp_server: SMTPServer, pipelining: bool
) -> None:
    smtp_server.handler.pipelining = pipelining
    smtp_server.reject("gone@example.org")
    smtp_server.fail("mail", 451)
    transport = SMTPTransport(parse_smtp_url(smtp_server.url), pool_size=1)
    try:
        refused_sender = await transport.send("b@news.example.com", "r1@example.org", MESSAGE)
        refused_rcpt = await transport.send("b@news.example.com", "gone@example.org", MESSAGE)
        accepted = await transport.send("b@news.example.com", "r2@example.org", MESSAGE)
    finally:
        await transport.close()
    assert (refused_sender.verdict, refused_sender.code) == (Verdict.RETRY, 451)
    assert refused_sender.message.startswith("MAIL:")
    assert (refused_rcpt.verdict, refused_rcpt.code) == (Verdict.FAILED, 550)
    assert refused_rcpt.message.startswith("RCPT:")  # the first refusal counts, not DATA's 503 after it
    assert accepted.verdict is Verdict.SENT
    assert [r.rcpt_tos for r in smtp_server.received] == [("r2@example.org",)]
    assert smtp_server.handler.connections == 1  # RSET after each refusal, the same connection


async def test_an_address_that_would_break_the_command_is_refused_before_sending(smtp_server: SMTPServer) -> None:
    transport = SMTPTransport(parse_smtp_url(smtp_server.url))
    try:
        outcome = await transport.send("b@news.example.com", "x@example.org>\r\nRCPT TO:<y@example.org", MESSAGE)
        after = await transport.send("b@news.example.com", "r@example.org", MESSAGE)
    finally:
        await transport.close()
    assert outcome.verdict is Verdict.FAILED and "cannot be put in an SMTP command" in outcome.message
    assert after.verdict is Verdict.SENT and [r.rcpt_tos for r in smtp_server.received] == [("r@example.org",)]


def _odd_messages() -> list[bytes]:
    return [
        MESSAGE,
        b"Subject: lone line ends\n\nfirst\nsecond\rthird\r\n",
        b"Subject: dots\r\n\r\n.\r\n..two\r\n.three",  # dot lines, and no final line end
        "Subject: =?utf-8?b?2KPYrtio2KfYsQ==?=\r\n\r\nنص عربي\r\n".encode(),
    ]


async def _composed_digest(tmp_path: Path) -> bytes:
    from mailer.compose.message import MessageTemplate, Personal
    from mailer.compose.render import ArticleView, DigestView, Renderer
    from mailer.core.headers import Identity
    from mailer.core.settings import load_settings

    settings = load_settings(data_dir=tmp_path, base_url="https://news.example.com",
                             sender_address="newsletter@news.example.com")
    identity = Identity.for_list(settings, "daily")
    now = dt.datetime(2026, 11, 25, 4, 0, tzinfo=dt.UTC)
    view = DigestView("daily", now.date(), (ArticleView(id=1, title="عنوان", url="https://news.example.com/1",
                                                          summary=".سطر يبدأ بنقطة\nثم سطر", section="سياسة"),))
    template = MessageTemplate.build(Renderer(settings).digest(view, identity), identity, now)
    return template.personalise(Personal(to="r@example.org", message_id="e1.s1", token="1.daily." + "x" * 22,
                                         pref_token="1.pref." + "x" * 22, name="قارئ .1"))


async def test_what_arrives_is_byte_identical_to_aiosmtplibs_sendmail(tmp_path: Path) -> None:
    digest = await _composed_digest(tmp_path)
    cases = [(digest, True)] + [(m, False) for m in _odd_messages()]
    with SMTPServer() as server:
        transport = SMTPTransport(parse_smtp_url(server.url))
        reference = aiosmtplib.SMTP(hostname=server.host, port=server.port, start_tls=False)
        await reference.connect()
        try:
            for data, canonical in cases:
                await reference.sendmail("b@news.example.com", ["r@example.org"], data)
                outcome = await transport.send("b@news.example.com", "r@example.org", data, canonical=canonical)
                assert outcome.verdict is Verdict.SENT
        finally:
            await reference.quit()
            await transport.close()
        received = server.received
    assert len(received) == 2 * len(cases)
    for n in range(len(cases)):
        by_sendmail, by_us = received[2 * n], received[2 * n + 1]
        assert by_us.data == by_sendmail.data
        assert (by_us.mail_from, by_us.rcpt_tos) == (by_sendmail.mail_from, by_sendmail.rcpt_tos)
