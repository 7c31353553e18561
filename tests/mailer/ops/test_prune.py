"""Retention: ``mailer prune`` removes what grows forever and keeps the counts reports need; the
indexes deletes scan; the migration that adds them, both ways. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text
from typer.testing import CliRunner

from mailer.core.db import Database, migrate
from mailer.core.models import (
    BounceEvent,
    EditionVariant,
    EditorSession,
    EventTotal,
    OutboxMessage,
    ShareRecord,
)
from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.editor import accounts
from mailer.ops.prune import prune
from mailer.shares import records
from subscribers.models import Confirmation
from tests.conftest import Clock
from tests.support import factories
from tests.support.cli import cli_env, mailer  # noqa: F401  (fixture)
from tests.support.smtpd import SMTPServer


async def _count(svc: Service, table: Any, *where: Any) -> int:
    async with svc.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def _sent_edition(service: Service, clock: Clock, smtp_server: SMTPServer) -> int:
    await factories.ingest_items(service, 2, clock.now)
    for address in ("a@example.org", "b@example.org", "gone@example.org"):
        await factories.subscriber(service, address)
    smtp_server.reject("gone@example.org")
    edition_id = (await service.run_list("daily", clock.now)).edition.id
    await service.sender.drain()
    return edition_id


async def _one_offs_and_tokens(service: Service, clock: Clock) -> None:
    now = clock.now
    async with service.db.transaction() as session:
        for n in range(2):
            await outbox.enqueue(session, outbox.message_row(
                kind="share", recipient=f"friend{n}@example.org", payload=b"Subject: x\r\n\r\nbody\r\n",
                message_id=f"share{n}@news.example.com", now=now))
        await records.add(session, now=now, outcome="queued", article_id=1)
        await records.add(session, now=now, outcome="honeypot")
        subscriber = (await session.execute(text("SELECT id FROM subscribers LIMIT 1"))).scalar_one()
        for n, (used, expires) in enumerate([(None, now + timedelta(hours=48)), (now, now + timedelta(hours=48)),
                                             (None, now - timedelta(hours=1))]):
            session.add(Confirmation(subscriber_id=subscriber, purpose="subscribe", token_hash=f"{n:064d}",
                                     address_hash="a" * 64, created_at=now - timedelta(hours=30),
                                     expires_at=expires, used_at=used))
    editor = await factories.editor(service)
    async with service.db.transaction() as session:
        await accounts.start_session(session, editor, now, timedelta(hours=1))


async def test_prune_keeps_each_thing_for_its_time_and_the_counts_forever(
    service: Service, clock: Clock, smtp_server: SMTPServer
) -> None:
    edition_id = await _sent_edition(service, clock, smtp_server)
    await _one_offs_and_tokens(service, clock)
    await service.sender.drain()
    async with service.db.transaction() as session:
        before = await outbox.counts(session, [edition_id])
    assert before == {edition_id: {"sent": 2, "failed": 1}}
    assert await _count(service, BounceEvent) == 1  # the 550 is a hard bounce

    # the same day: only the used or expired links (older than the one-mail-per-day window) go
    done = await prune(service.db, service.settings, clock.now)
    assert (done.confirmations, done.payloads, done.outbox_rows) == (2, 0, 0)
    assert await _count(service, Confirmation) == 1

    # after a week: payloads, histories and rendered variants go, the rows stay
    clock.advance(days=8)
    done = await prune(service.db, service.settings, clock.now)
    assert done.payloads == 5 and done.variants >= 1 and done.outbox_rows == 0 and done.editor_sessions == 1
    assert await _count(service, OutboxMessage, OutboxMessage.payload.is_not(None)) == 0
    assert await _count(service, OutboxMessage, OutboxMessage.history != "[]") == 0
    assert await _count(service, EditionVariant) == 0
    assert await _count(service, EditorSession) == 0

    # after the outbox's time: rows go, the edition's counts do not change
    clock.advance(days=90)
    done = await prune(service.db, service.settings, clock.now)
    assert done.outbox_rows == 5 and done.shares == 2
    assert await _count(service, OutboxMessage) == 0
    async with service.db.transaction() as session:
        assert await outbox.counts(session, [edition_id]) == before
        assert await outbox.counts(session) == before
    assert await _count(service, ShareRecord) == 0
    assert await _count(service, BounceEvent) == 1  # bounces are kept longer
    clock.advance(days=90)
    assert (await prune(service.db, service.settings, clock.now)).bounce_events == 1
    async with service.db.transaction() as session:
        totals = {(n, label): c for n, label, c in await session.execute(
            select(EventTotal.name, EventTotal.label, EventTotal.count))}
    assert totals == {("bounce_events", "hard"): 1, ("shares", "queued"): 1, ("shares", "honeypot"): 1}
    # a second run finds nothing more and changes no count
    assert (await prune(service.db, service.settings, clock.now)).describe().startswith("0 payloads")
    async with service.db.transaction() as session:
        assert await outbox.counts(session, [edition_id]) == before


async def test_pruning_in_chunks_counts_every_row_once(
    service: Service, clock: Clock, smtp_server: SMTPServer, monkeypatch: Any
) -> None:
    from mailer.ops import prune as module

    monkeypatch.setattr(module, "CHUNK", 2)  # several transactions for a handful of rows
    edition_id = await _sent_edition(service, clock, smtp_server)
    for n in range(4):
        await factories.subscriber(service, f"more{n}@example.org")
    clock.advance(minutes=5)
    await factories.ingest_items(service, 4, clock.now)  # two new articles
    result = await service.send_now("daily")
    assert result.action == "sending", result.describe()
    second = result.edition.id
    await service.sender.drain()
    clock.advance(days=100)
    done = await prune(service.db, service.settings, clock.now)
    assert done.outbox_rows == 3 + 6  # the mailbox that does not exist was suppressed at its first bounce
    async with service.db.transaction() as session:
        assert await outbox.counts(session, [edition_id, second]) == {
            edition_id: {"sent": 2, "failed": 1}, second: {"sent": 6}}


async def test_the_editions_command_and_api_show_pruned_counts(
    service: Service, clock: Clock, smtp_server: SMTPServer, cli_env: CliRunner  # noqa: F811
) -> None:
    await _sent_edition(service, clock, smtp_server)
    code, out, _ = await mailer(cli_env, "prune")
    assert code == 0 and "pruned:" in out and "0 outbox rows" in out  # nothing old enough yet
    await prune(service.db, service.settings, clock.now + timedelta(days=100))
    assert await _count(service, OutboxMessage) == 0
    code, out, _ = await mailer(cli_env, "editions")
    row = next(line for line in out.splitlines() if "daily" in line)
    cells = [c.strip() for c in row.strip("│┃ ").split("│")]
    assert code == 0 and cells[3:7] == ["sent", "2", "0", "1"]


async def test_deleting_a_subscriber_finds_their_outbox_rows_by_index(settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            if db.dialect == "postgresql":
                await conn.execute(text("SET enable_seqscan = off"))
                plan = (await conn.execute(text("EXPLAIN UPDATE outbox SET subscriber_id = NULL WHERE subscriber_id = 7"))).all()
            else:
                plan = (await conn.execute(text("EXPLAIN QUERY PLAN UPDATE outbox SET subscriber_id = NULL WHERE subscriber_id = 7"))).all()
    finally:
        await db.dispose()
    assert "ix_outbox_subscriber_id" in " ".join(str(row) for row in plan)


async def test_the_migration_goes_down_and_up_again(settings: Settings) -> None:
    from alembic.script import ScriptDirectory

    from mailer.core.db import alembic_config

    db = Database(settings.database_url)

    def _before(revision: str) -> str:
        """The revision this one follows, wherever later merges have chained it."""
        before = ScriptDirectory.from_config(alembic_config()).get_revision(revision).down_revision
        assert isinstance(before, str)
        return before

    def down_up(connection: Any, target: str) -> None:
        migrate(connection, target, down=target != "head")

    try:
        await db.upgrade()
        async with db.engine.begin() as conn:
            await conn.run_sync(down_up, _before("i17_production"))
            tables = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
            assert not {"outbox_totals", "event_totals", "send_pace"} & tables
        async with db.engine.begin() as conn:
            await conn.run_sync(down_up, "head")
            tables = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
            assert {"outbox_totals", "event_totals", "send_pace"} <= tables
    finally:
        await db.dispose()


async def test_serve_s_scheduler_runs_prune_on_its_cron_and_survives_a_failure(caplog: Any) -> None:
    from datetime import UTC, datetime

    from mailer.editions.schedule import DigestScheduler, next_fire

    runs: list[str] = []

    async def chore() -> None:
        runs.append("prune")
        if len(runs) == 2:
            raise RuntimeError("database away")

    async def run_list(list_name: str, fire: datetime) -> None:
        return None

    scheduler = DigestScheduler({"daily": "0 7 * * *"}, "Asia/Baghdad", run_list)
    scheduler.also("prune", "30 3 * * *", chore)
    scheduler.start()
    try:
        job = scheduler.scheduler.get_job("prune")
        assert job is not None
        now = datetime.now(UTC)
        assert job.next_run_time == next_fire("30 3 * * *", "Asia/Baghdad", now)
        for _ in range(3):  # what APScheduler calls at each fire time
            await job.func(*job.args)
    finally:
        scheduler.shutdown()
    assert runs == ["prune"] * 3  # the failure in the middle was logged, not fatal
    assert "prune failed" in caplog.text and "database away" in caplog.text
