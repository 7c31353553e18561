"""`mailer subscribers forget`: nothing personal is left anywhere, the hash stays suppressed."""

from __future__ import annotations

import httpx
from sqlalchemy import MetaData, String, Text, func, select
from typer.testing import CliRunner

from mailer.core.models import BounceEvent
from mailer.delivery.service import Service
from subscribers import bounces, suppression
from subscribers.models import Suppression
from tests.conftest import Clock
from tests.subscribers.helpers import link, status_of, subscriber_row
from tests.subscribers.test_suppression import enqueue_share, statuses
from tests.support import factories
from tests.support.cli import mailer
from tests.support.smtpd import SMTPServer


async def occurrences(svc: Service, needles: list[str]) -> list[str]:
    """Every (table.column) in the whole database whose text holds one of ``needles``."""
    found = []
    async with svc.db.engine.connect() as conn:
        meta = MetaData()
        await conn.run_sync(meta.reflect)
        for table in meta.tables.values():
            for column in table.columns:
                if not isinstance(column.type, String | Text):
                    continue
                for needle in needles:
                    hit = await conn.scalar(select(func.count()).select_from(table).where(
                        func.lower(column).contains(needle.lower())))
                    if hit:
                        found.append(f"{table.name}.{column.name}")
    return found


async def test_forget_erases_the_person_and_keeps_them_suppressed(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str, cli_env: CliRunner
) -> None:
    await factories.ingest_items(service, 2, clock.now)
    await factories.subscriber(service, "someone@example.org", name="شخص ما")
    await service.run_list("daily", clock.now)
    await service.sender.drain()
    async with httpx.AsyncClient(base_url=live_app) as client:
        prefs = link(smtp_server.received[0], "/p/")
        await client.post(prefs, data={"action": "email", "new_email": "someone.new@example.org"})
    await enqueue_share(service, "someone@example.org")  # pending when the request comes
    assert await occurrences(service, ["someone"])  # the probe sees what is there

    code, out, err = await mailer(cli_env, "subscribers", "forget", "--yes", "Someone@Example.org")
    assert code == 0, err
    assert "subscriber erased; 3 outbox rows cleared" in out
    assert await occurrences(service, ["someone", "شخص ما"]) == []
    async with service.db.transaction() as session:
        assert await suppression.reason_for(session, "someone@example.org") == "forget"
        assert await session.scalar(select(func.count()).select_from(Suppression)) == 1
    # the outbox still counts what was sent
    assert sorted(s for s, _ in (await statuses(service)).values()) == ["sent", "skipped", "skipped"]

    before = len(smtp_server.received)
    async with httpx.AsyncClient(base_url=live_app) as client:
        again = await client.post("/subscribe", data={"email": "someone@example.org"})
    assert again.status_code == 200
    await enqueue_share(service, "someone@example.org")
    await service.sender.drain()
    assert len(smtp_server.received) == before
    assert await subscriber_row(service, "someone@example.org") is None
    assert await status_of(service, "someone@example.org") is None


async def test_forget_leaves_bounce_events_counted_but_about_nobody(
    service: Service, clock: Clock, cli_env: CliRunner
) -> None:
    sub = await factories.subscriber(service, "bouncy@example.org", name="كثير الارتداد")
    async with service.db.transaction() as session:
        await bounces.record(session, service.settings, bounces.Target("bouncy@example.org", sub.id), "soft",
                             clock.now, source="dsn", detail="452 4.2.2 bouncy@example.org: mailbox full")
    code, _, err = await mailer(cli_env, "subscribers", "forget", "--yes", "bouncy@example.org")
    assert code == 0, err
    assert await occurrences(service, ["bouncy", "كثير الارتداد"]) == []
    async with service.db.transaction() as session:
        kept = (await session.execute(select(BounceEvent.kind, BounceEvent.day))).all()
    assert [kind for kind, _ in kept] == ["soft"]  # the deliverability counts keep the event
