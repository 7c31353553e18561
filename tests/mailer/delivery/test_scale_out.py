"""Several schedulers and one database; progress as the CLI and the API show it; the commands."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from mailer.cli.main import app
from mailer.core.errors import SettingsError
from mailer.core.models import Edition, OutboxMessage
from mailer.core.settings import Settings
from mailer.delivery.service import Service
from subscribers import suppression
from tests.conftest import API_TOKEN, Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer


async def test_two_schedulers_at_once_make_one_edition(
    settings: Settings, clock: Clock, smtp_server: SMTPServer
) -> None:
    first = await Service(settings, clock=clock).start()
    second = await Service(settings, clock=clock).start()
    try:
        await factories.ingest_items(first, 3, clock.now)
        for n in range(20):
            await factories.subscriber(first, f"reader{n}@example.org")
        results = await asyncio.gather(first.run_list("daily", clock.now), second.run_list("daily", clock.now))
        assert sorted(r.action for r in results) == ["exists", "sending"]
        assert results[0].edition.id == results[1].edition.id
        async with first.db.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Edition)) == 1
            assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 20
        totals = await asyncio.gather(first.sender.drain(), second.sender.drain())
        assert sum(t.get("sent", 0) for t in totals) == 20
    finally:
        await first.close()
        await second.close()
    assert len(smtp_server.received) == 20


async def test_progress_counts_in_the_api(service: Service, live_app: str, clock: Clock, smtp_server: SMTPServer) -> None:
    await factories.ingest_items(service, 2, clock.now)
    for n in range(3):
        await factories.subscriber(service, f"reader{n}@example.org")
    smtp_server.reject("reader1@example.org")
    edition_id = (await service.run_list("daily", clock.now)).edition.id
    async with httpx.AsyncClient(base_url=live_app, headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
        before = (await client.get("/api/editions")).json()
        await service.sender.drain()
        after = (await client.get("/api/editions")).json()
    assert before[0]["id"] == edition_id and before[0]["counts"] == {"pending": 3} and before[0]["status"] == "sending"
    assert after[0]["counts"] == {"sent": 2, "failed": 1} and after[0]["status"] == "sent"


def test_the_editions_command_shows_the_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import SECRET

    monkeypatch.setenv("MAILER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    with SMTPServer() as server:
        monkeypatch.setenv("MAILER_SMTP_URL", server.url)
        server.reject("gone@example.org")

        async def setup() -> None:
            from mailer.core.settings import load_settings

            svc = await Service(load_settings()).start()
            try:
                await factories.ingest_items(svc, 2, svc.clock())
                for address in ("a@example.org", "b@example.org", "gone@example.org", "quiet@example.org"):
                    await factories.subscriber(svc, address)
                async with svc.db.transaction() as session:  # on the list, but not to be mailed
                    await suppression.suppress(session, "quiet@example.org", "unsubscribe")
            finally:
                await svc.close()

        asyncio.run(setup())
        runner = CliRunner()
        sent = runner.invoke(app, ["digest", "send", "--now"])
        assert sent.exit_code == 0, sent.output
        assert "1 failed, 2 sent, 1 skipped" in sent.output
        shown = runner.invoke(app, ["editions"])
    assert shown.exit_code == 0, shown.output
    header = next(line for line in shown.output.splitlines() if "status" in line)
    assert [c.strip() for c in header.strip("│┃ ").split("┃")][3:10] == [
        "status", "sent", "skipped", "failed", "unknown", "pending", "dead"]  # nothing lumped as "other"
    row = next(line for line in shown.output.splitlines() if "daily" in line)
    cells = [c.strip() for c in row.strip("│┃ ").split("│")]
    assert cells[3:10] == ["sent", "2", "1", "1", "0", "0", "0"]


@pytest.mark.parametrize("command", [["worker"], ["dkim", "keygen"], ["bounces", "process"], ["editions", "resume"]])
def test_every_new_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"smtp_pool_size": 0}, "MAILER_SMTP_POOL_SIZE"),
        ({"send_rate": -1}, "MAILER_SEND_RATE"),
        ({"domain_concurrency": 0}, "MAILER_DOMAIN_CONCURRENCY"),
        ({"retry_lifetime_hours": 0}, "MAILER_RETRY_LIFETIME_HOURS"),
        ({"bounce_address": "bounces+x@news.example.com"}, "MAILER_BOUNCE_ADDRESS"),
        ({"bounce_address": "not an address"}, "MAILER_BOUNCE_ADDRESS"),
        ({"dkim_selector": "bad selector!"}, "MAILER_DKIM_SELECTOR"),
        ({"bounce_mailbox": "ftp://x"}, "MAILER_BOUNCE_MAILBOX"),
        ({"journal_fsync_seconds": -1}, "MAILER_JOURNAL_FSYNC_SECONDS"),
    ],
)
def test_bad_delivery_settings_name_the_variable(
    make_settings: Callable[..., Settings], overrides: dict[str, object], key: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        make_settings(**overrides)
    assert caught.value.key == key


def test_return_path_defaults_to_the_sender_domain(make_settings: Callable[..., Settings]) -> None:
    assert make_settings().return_path == "bounces@news.example.com"
    assert make_settings(bounce_address="vrp@bounce.example.com").return_path == "vrp@bounce.example.com"


async def test_sending_helpers_say_when_they_are_ready(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer
) -> None:
    """``MAILER_SENDER_PROCESSES=3``: the two helpers, started by the service, each report once
    their own service has started (the benchmark starts its clock then, as under ``mailer serve``)."""
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, sender_processes=3)
    svc = await Service(settings).start()
    try:
        svc.start_senders()
        assert svc.group is not None and svc.group.size == 2
        helpers = [helper.process for helper in svc.group._helpers]
        assert await svc.group.ready(60)
    finally:
        await svc.close()
    assert svc.group.size == 0 and not any(process.is_alive() for process in helpers)  # stopped with it
