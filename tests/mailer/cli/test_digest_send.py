"""``mailer digest send --now`` as an operator runs it: it follows the editor's curation, waits
for the whole edition even when workers share it, counts that edition only, and finishes an
edition that a killed process left behind without waiting for its leases."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from mailer.articles import ingest
from mailer.core.models import Article, Edition, OutboxMessage
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.editions import curation
from tests.conftest import Clock
from tests.support import factories
from tests.support.cli import cli_env, mailer  # noqa: F401  (cli_env: the real command, pointed at this test)
from tests.support.smtpd import SMTPServer
from tests.support.workers import worker_env

pytestmark = pytest.mark.slow  # the real command, and a real process killed


def title(n: int) -> str:
    return f"عنوان الخبر رقم {n} عن العراق"


async def _news(service: Service, clock: Clock, count: int, readers: int) -> None:
    """``count`` articles of the last minute (the command runs on the real clock) and readers."""
    clock.now = datetime.now(UTC)
    items = [factories.item(n, clock.now + timedelta(minutes=n) - timedelta(seconds=5 * n)) for n in range(1, count + 1)]
    parsed = ingest.parse_feed(factories.rss(items), now=clock.now)
    async with service.db.transaction() as session:
        await ingest.store(session, parsed.articles)
    for n in range(readers):
        await factories.subscriber(service, f"reader{n:02d}@example.org")


async def _edition(service: Service) -> Edition:
    async with service.db.transaction() as session:
        return (await session.scalars(select(Edition).order_by(Edition.id.desc()))).first()


async def test_send_now_follows_the_editors_curation(
    service: Service, smtp_server: SMTPServer, clock: Clock, cli_env: CliRunner  # noqa: F811
) -> None:
    await _news(service, clock, 4, 2)
    async with service.db.transaction() as session:
        draft = await curation.open_upcoming(session, service.settings, "daily", clock.now)
        ids = {t: i for i, t in await session.execute(select(Article.id, Article.title))}
    async with service.db.transaction() as session:  # the editor drops 2 and moves 4 up
        await curation.set_excluded(session, service.settings, draft.id, ids[title(2)], True, "sara", clock.now)
        await curation.move(session, draft.id, ids[title(4)], -1, "sara", clock.now)

    code, out, err = await mailer(cli_env, "digest", "send", "--now")
    assert code == 0, err
    assert "2 sent" in out
    expected = [title(1), title(4), title(3)]
    for received in smtp_server.received:
        html = received.message.get_body(("html",)).get_content()
        assert title(2) not in html  # what she dropped stays out
        positions = [html.find(t) for t in expected]
        assert -1 not in positions and positions == sorted(positions)  # in her order
    assert len(smtp_server.received) == 2


async def test_send_now_waits_for_the_whole_edition_and_counts_only_its_rows(
    service: Service, smtp_server: SMTPServer, clock: Clock, cli_env: CliRunner,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_SEND_BATCH_SIZE", "5")
    await _news(service, clock, 2, 30)
    async with service.db.transaction() as session:  # other mail waiting: not this edition's
        for n in range(12):
            await outbox.enqueue(session, outbox.message_row(
                kind="test", recipient=f"other{n}@example.org", payload=b"Subject: x\r\n\r\nx\r\n",
                message_id=f"<t{n}@news.example.com>", now=clock.now))
    smtp_server.hold_replies_after(3)  # the command's first messages wait for their replies ...
    command = asyncio.create_task(mailer(cli_env, "digest", "send", "--now"))
    while len(smtp_server.received) < 4:
        await asyncio.sleep(0.02)
    edition = await _edition(service)
    async with service.db.transaction() as session:  # ... while a worker on another host takes 10
        ten = (await session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.edition_id == edition.id, OutboxMessage.status == "pending")
            .order_by(OutboxMessage.id.desc()).limit(10))).all()
        taken = await session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ten), OutboxMessage.status == "pending")
            .values(status="sending", lease_owner="otherhost.example:4242", attempts=OutboxMessage.attempts + 1,
                    lease_expires_at=datetime.now(UTC) + timedelta(seconds=3)))
    assert taken.rowcount == 10
    smtp_server.release_replies()
    code, out, err = await command  # that worker dies: the command waits for its lease to expire
    assert code == 0, err

    async with service.db.transaction() as session:
        edition = await session.get(Edition, edition.id, populate_existing=True)
        counts = await outbox.counts(session)
        others = set(await session.scalars(select(OutboxMessage.status).where(OutboxMessage.kind == "test")))
    assert edition.status == "sent" and counts == {edition.id: {"sent": 30}}  # done when it returns
    assert f"edition {edition.id}: 30 sent" in out
    assert others == {"pending"}  # other mail is for `mailer serve` and the workers
    assert "30/30" in err and not re.search(r"\b(3[1-9]|4[0-9])/", err)  # its own rows only
    copies = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert len(copies) == 30 and set(copies.values()) == {1}


async def test_send_now_finishes_an_edition_a_killed_process_left_behind(
    service: Service, smtp_server: SMTPServer, clock: Clock, cli_env: CliRunner  # noqa: F811
) -> None:
    await _news(service, clock, 2, 40)
    smtp_server.hold_replies_after(12)
    first = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, "-m", "mailer.cli.main", "digest", "send", "--now"],
        env=worker_env(service.settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if len(smtp_server.received) > 12 or first.poll() is not None:
                break
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # killed with its rows leased for five minutes
    finally:
        await asyncio.to_thread(first.wait)
    smtp_server.release_replies()
    left = await _edition(service)
    assert left.status == "sending"
    async with service.db.transaction() as session:
        leased = await session.scalar(select(OutboxMessage.lease_owner).where(OutboxMessage.status == "sending"))
    assert leased is not None and leased.endswith(f":{first.pid}")

    code, out, err = await asyncio.wait_for(mailer(cli_env, "digest", "send", "--now"), 120)
    assert code == 0, err
    assert f"edition {left.id} (daily {left.period_key}) was left unfinished: sending the rest" in out
    assert f"edition {left.id}: 40 sent" in out
    assert "has no new articles" in out  # and nothing is sent twice as a "new" edition
    async with service.db.transaction() as session:
        assert (await session.get(Edition, left.id, populate_existing=True)).status == "sent"
    copies = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert len(copies) == 40  # nobody lost
    assert sum(copies.values()) - 40 <= service.settings.smtp_pool_size  # repeated: what was in flight
