"""``mailer doctor`` against real relays (STARTTLS and AUTH, a wrong password, nothing listening),
and ``mailer digest send`` saying plainly when the relay cannot be reached."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import func, select
from typer.testing import CliRunner

from mailer.core.db import utcnow
from mailer.core.models import Edition
from mailer.core.settings import Settings
from mailer.delivery import dkim
from mailer.delivery.devmailbox import free_port
from mailer.delivery.service import Service
from tests.support import factories
from tests.support.cli import cli_env, mailer  # noqa: F401  (fixture)
from tests.support.smtpd import SMTPServer
from tests.support.tls import self_signed


def _authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"relay", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def tls_relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SMTPServer]:
    """A relay that wants STARTTLS and AUTH, with a certificate the doctor trusts (SSL_CERT_FILE)."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with SMTPServer(tls_context=context, require_starttls=True, authenticator=_authenticate,
                    auth_require_tls=True) as server:
        yield server


@pytest.fixture
def production(cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:  # noqa: F811
    """A sender's domain of its own and a DKIM key, as production has."""
    key = tmp_path / "dkim.key"
    dkim.write_key(key, dkim.generate_key())
    monkeypatch.setenv("MAILER_SENDER_ADDRESS", "newsletter@akhbar.example.net")
    monkeypatch.setenv("MAILER_DKIM_SELECTOR", "mail2026")
    monkeypatch.setenv("MAILER_DKIM_KEY_FILE", str(key))
    return cli_env


def _row(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if name in line)


async def test_doctor_checks_starttls_auth_and_dkim_and_prints_the_records(
    production: CliRunner, tls_relay: SMTPServer, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("MAILER_SMTP_URL", f"smtp+starttls://relay:s3cret@localhost:{tls_relay.port}")
    code, out, errors = await mailer(production, "doctor")
    assert code == 0, out + errors
    assert "ok" in _row(out, "relay EHLO") and "ok" in _row(out, "relay STARTTLS")
    assert "logged in as relay" in _row(out, "relay AUTH") and "ok" in _row(out, "database")
    assert "2048-bit RSA key" in _row(out, "DKIM")
    assert "s3cret" not in out + errors
    key = Path(settings.data_dir).parent / "dkim.key"
    public = dkim.public_key_b64(key.read_bytes())
    flat = out.replace("\n", "")
    assert "mail2026._domainkey.akhbar.example.net. IN TXT" in flat
    assert public[:200] in flat.replace('" "', "")
    assert '_dmarc.akhbar.example.net. IN TXT ( "v=DMARC1; p=none;' in out
    assert 'akhbar.example.net. IN TXT ( "v=spf1 ' in out


async def test_doctor_fails_on_a_wrong_password(
    production: CliRunner, tls_relay: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SMTP_URL", f"smtp+starttls://relay:wrong@localhost:{tls_relay.port}")
    code, out, errors = await mailer(production, "doctor")
    assert code == 1
    assert "FAILED" in _row(out, "relay AUTH") and "535" in _row(out, "relay AUTH")
    assert "relay AUTH" in errors


async def test_doctor_fails_when_nothing_listens_and_names_what_is_missing(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv("MAILER_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    code, out, _errors = await mailer(cli_env, "doctor")
    assert code == 1
    assert "FAILED" in _row(out, "relay EHLO")
    assert "FAILED" in _row(out, "DKIM") and "mailer dkim keygen" in out.replace("\n", " ")
    assert "FAILED" in _row(out, "MAILER_SENDER_ADDRESS")  # still example.com


async def test_digest_send_says_when_the_relay_cannot_be_reached(
    service: Service, cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    await factories.ingest_items(service, 2, utcnow())  # the command runs on the real clock
    await factories.subscriber(service, "reader@example.org")
    port = free_port()
    monkeypatch.setenv("MAILER_SMTP_URL", f"smtp://127.0.0.1:{port}")
    code, _out, errors = await mailer(cli_env, "digest", "send", "--now")
    assert code == 1
    assert "MAILER_SMTP_URL: the relay could not be reached" in errors and f"127.0.0.1:{port}" in errors
    assert "nothing was queued" in errors
    async with service.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Edition)) == 0


async def test_digest_send_exits_non_zero_while_messages_wait_for_a_retry(
    service: Service, cli_env: CliRunner, smtp_server: SMTPServer  # noqa: F811
) -> None:
    await factories.ingest_items(service, 2, utcnow())  # the command runs on the real clock
    await factories.subscriber(service, "reader@example.org")
    await factories.subscriber(service, "busy@example.org")
    smtp_server.fail("rcpt", 451)
    code, out, errors = await mailer(cli_env, "digest", "send", "--now")
    assert code == 1, out + errors
    assert "1 pending, 1 sent" in out
    assert "1 message(s) not delivered yet" in errors and "451" in errors


async def test_doctor_prints_the_ed25519_record_beside_the_rsa_one(
    production: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ed = tmp_path / "ed.key"
    dkim.write_key(ed, dkim.generate_ed25519_key())
    monkeypatch.setenv("MAILER_DKIM_ED25519_SELECTOR", "ed2026")
    monkeypatch.setenv("MAILER_DKIM_ED25519_KEY_FILE", str(ed))
    _, out, _ = await mailer(production, "doctor")
    flat = out.replace("\n", "")
    assert "mail2026._domainkey.akhbar.example.net. IN TXT" in flat  # RSA still there
    assert (f'ed2026._domainkey.akhbar.example.net. IN TXT ( "v=DKIM1; k=ed25519; '
            f'p={dkim.ed25519_public_b64(ed.read_bytes())}" )') in flat
