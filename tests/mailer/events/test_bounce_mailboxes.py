"""``mailer bounces process`` reading a Maildir, and the same over POP3 and IMAP from a real Dovecot."""

from __future__ import annotations

import asyncio
import mailbox
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mailer.cli.main import app
from mailer.core.errors import SettingsError
from mailer.core.models import BounceEvent
from mailer.core.settings import Settings
from mailer.core.urls import parse_mailbox_url
from mailer.delivery.service import Service
from mailer.events import bounces
from mailer.events.mailboxes import ImapSource, MaildirSource, Pop3Source
from tests.conftest import Clock
from tests.mailer.events.bounce_samples import EXPECTED, TOTALS, as_sent, sent_edition
from tests.support import dovecot

HANDLED = {name for name, (kind, _, _) in EXPECTED.items() if kind is not None}
IGNORED = set(EXPECTED) - HANDLED


async def _fill_maildir(service: Service, path: Path) -> None:
    box = mailbox.Maildir(path, create=True)
    for name in sorted(EXPECTED):
        box.add(await as_sent(service, name))


async def _events(service: Service) -> list[tuple[int | None, str, str]]:
    async with service.db.transaction() as session:
        rows = await session.execute(select(BounceEvent.subscriber_id, BounceEvent.kind, BounceEvent.source))
        return sorted(rows.all(), key=lambda r: r[0] or 0)


EXPECTED_EVENTS = sorted(
    ((sid, kind, "arf" if kind == "complaint" else "dsn") for kind, sid, _ in EXPECTED.values() if kind),
    key=lambda r: r[0] or 0,
)


async def test_a_maildir_is_processed_and_handled_messages_removed(
    service: Service, clock: Clock, tmp_path: Path
) -> None:
    await sent_edition(service, clock.now)
    await _fill_maildir(service, tmp_path / "Maildir")
    source = MaildirSource(tmp_path / "Maildir")
    totals = await bounces.process_source(service.db, service.settings, source, clock)
    source.close()
    assert totals == TOTALS
    assert await _events(service) == EXPECTED_EVENTS
    left = mailbox.Maildir(tmp_path / "Maildir", create=False)
    assert sorted(m.get_flags() for m in left) == ["S", "S"]  # the two we could not act on, seen
    again = MaildirSource(tmp_path / "Maildir")
    assert await bounces.process_source(service.db, service.settings, again, clock) == {}


@pytest.fixture
def dovecot_server() -> Iterator[dovecot.Dovecot]:
    if not dovecot.available():
        if os.environ.get("CI") == "true":
            pytest.fail("dovecot is required in CI (.ci/run installs dovecot-imapd and dovecot-pop3d)")
        pytest.skip("needs Debian's dovecot-imapd and dovecot-pop3d, run as root")
    with dovecot.running() as server:
        yield server


@pytest.mark.parametrize("scheme", ["pop3", "imap"])
async def test_pop3_and_imap_mailboxes_are_processed(
    service: Service, clock: Clock, dovecot_server: dovecot.Dovecot, scheme: str
) -> None:
    await sent_edition(service, clock.now)
    for name in sorted(EXPECTED):
        dovecot_server.deliver(name, await as_sent(service, name))
    config = parse_mailbox_url(dovecot_server.url(scheme))
    kind = Pop3Source if scheme == "pop3" else ImapSource
    source = await asyncio.to_thread(kind, config)
    try:
        totals = await bounces.process_source(service.db, service.settings, source, clock)
    finally:
        await asyncio.to_thread(source.close)
    assert totals == TOTALS
    assert await _events(service) == EXPECTED_EVENTS
    # handled messages are gone from the server; the two others are still there
    remaining = list((dovecot_server.maildir / "cur").iterdir()) + list((dovecot_server.maildir / "new").iterdir())
    assert len(remaining) == len(IGNORED)
    if scheme == "imap":  # unseen ones only: a second run finds nothing new
        source = await asyncio.to_thread(kind, config)
        try:
            assert await bounces.process_source(service.db, service.settings, source, clock) == {}
        finally:
            await asyncio.to_thread(source.close)


def test_the_command_reads_a_maildir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import SECRET

    db_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    for key, value in {"MAILER_DATABASE_URL": db_url, "MAILER_SECRET_KEY": SECRET,
                       "MAILER_DATA_DIR": str(tmp_path / "data"),
                       "MAILER_SENDER_ADDRESS": "newsletter@news.example.com"}.items():
        monkeypatch.setenv(key, value)

    async def setup() -> None:
        from mailer.core.settings import load_settings

        svc = await Service(load_settings()).start()
        try:
            await sent_edition(svc, svc.clock())
            await _fill_maildir(svc, tmp_path / "Maildir")
        finally:
            await svc.close()

    asyncio.run(setup())
    runner = CliRunner()
    result = runner.invoke(app, ["bounces", "process", "--mailbox", f"maildir:{tmp_path / 'Maildir'}"])
    assert result.exit_code == 0, result.output
    assert "counted" in result.output and "suppressed" in result.output
    bad = runner.invoke(app, ["bounces", "process", "--mailbox", "ftp://x"])
    assert bad.exit_code == 2 and "--mailbox" in bad.output
    missing = runner.invoke(app, ["bounces", "process", "--mailbox", f"maildir:{tmp_path / 'nowhere'}"])
    assert missing.exit_code == 1 and "--mailbox" in missing.output


def test_mailbox_urls(make_settings: Callable[..., Settings]) -> None:
    imap = parse_mailbox_url("imaps://bounce%40news.example.com:p%40ss@imap.example.com/Bounces")
    assert (imap.kind, imap.host, imap.port, imap.tls, imap.username, imap.password, imap.folder) == (
        "imap", "imap.example.com", 993, True, "bounce@news.example.com", "p@ss", "Bounces")
    assert parse_mailbox_url("pop3://u:p@pop.example.com").port == 110
    assert parse_mailbox_url("/var/mail/bounces").path == Path("/var/mail/bounces")
    assert "p@ss" not in repr(imap)
    with pytest.raises(SettingsError) as caught:
        make_settings(bounce_mailbox="imap://imap.example.com")
    assert caught.value.key == "MAILER_BOUNCE_MAILBOX" and "user" in str(caught.value)
