"""``mailer db backup`` and ``mailer db restore`` for real: SQLite's online backup while the service
is open and writing, PostgreSQL's pg_dump and pg_restore; the data comes back as it was."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.delivery.service import Service
from subscribers.models import Subscriber
from tests.conftest import Clock
from tests.support import factories
from tests.support.cli import cli_env, mailer  # noqa: F401  (fixture)
from tests.support.smtpd import SMTPServer


async def _state(svc: Service, edition_id: int) -> tuple[list[str], dict[str, int]]:
    async with svc.db.transaction() as session:
        emails = sorted(await session.scalars(select(Subscriber.email)))
        counts = (await outbox.counts(session, [edition_id])).get(edition_id, {})
    return emails, counts


async def test_backup_and_restore_bring_the_data_back(
    settings: Settings, clock: Clock, smtp_server: SMTPServer, cli_env: CliRunner, tmp_path: Path  # noqa: F811
) -> None:
    svc = await Service(settings, clock=clock).start()
    try:
        await factories.ingest_items(svc, 2, clock.now)
        for n in range(3):
            await factories.subscriber(svc, f"reader{n}@example.org")
        edition_id = (await svc.run_list("daily", clock.now)).edition.id
        await svc.sender.drain()
        before = await _state(svc, edition_id)

        async def keep_writing() -> None:  # the service goes on while the backup is taken
            for n in range(20):
                await factories.subscriber(svc, f"during{n}@example.org")
                await asyncio.sleep(0)

        target = tmp_path / "backup.dump"
        writer = asyncio.create_task(keep_writing())
        code, out, errors = await mailer(cli_env, "db", "backup", str(target))
        await writer
        assert code == 0, out + errors
        assert "backed up" in out and target.stat().st_size > 0
        # the copy is consistent: the three readers, and some prefix of the ones added meanwhile
        await factories.subscriber(svc, "after@example.org")
    finally:
        await svc.close()

    code, _, errors = await mailer(cli_env, "db", "backup", str(target))
    assert code == 2 and "never overwritten" in errors

    code, out, errors = await mailer(cli_env, "db", "restore", str(target), "--yes")
    assert code == 0, out + errors
    svc = await Service(settings, clock=clock).start()
    try:
        emails, counts = await _state(svc, edition_id)
    finally:
        await svc.close()
    assert counts == before[1] == {"sent": 3}
    assert "after@example.org" not in emails
    assert set(before[0]) <= set(emails)
    during = sorted(int(e[6:-12]) for e in emails if e.startswith("during"))
    assert during == list(range(len(during)))  # a prefix: no half-written state


async def test_restore_refuses_what_is_not_a_backup_and_no_command_shows_the_password(
    settings: Settings, cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path  # noqa: F811
) -> None:
    bogus = tmp_path / "not-a-backup.db"
    bogus.write_text("hello")
    code, _, errors = await mailer(cli_env, "db", "restore", str(bogus), "--yes")
    assert code == 1
    if settings.is_sqlite:
        assert "is not a sound SQLite database" in errors
        return
    assert "pg_restore failed" in errors
    monkeypatch.setenv("MAILER_DATABASE_URL", settings.database_url.replace("postgres@", "postgres:t0p-secret@"))
    code, out, _ = await mailer(cli_env, "db", "backup", str(tmp_path / "x.dump"), "--print")
    assert code == 0
    assert out.startswith("PGPASSWORD=... pg_dump --format=custom") and "t0p-secret" not in out
    assert not (tmp_path / "x.dump").exists()
    code, out, errors = await mailer(cli_env, "db", "upgrade")
    assert code == 0 and "database at head" in out and "t0p-secret" not in out + errors
