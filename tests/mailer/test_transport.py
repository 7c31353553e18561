"""The SMTP transport against real aiosmtpd servers: STARTTLS, implicit TLS, AUTH, timeouts."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailer.outcomes import Verdict
from mailer.send_limits import LimitedTransport
from mailer.service import Service
from mailer.settings import parse_smtp_url
from mailer.transport import SMTPTransport
from tests.support.smtpd import SMTPServer

MESSAGE = b"From: a@news.example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\n.leading dot\r\nbody\r\n"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


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
