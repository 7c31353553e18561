"""An article reaches a subscriber at most once per list, kept by the database: catch-up never
plans what came before the installation or the list's last edition that went out; a held edition
sent late sends only what nobody has had; two editions at once never carry the same article."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mailer.articles import ingest
from mailer.core.errors import Conflict
from mailer.core.models import Edition
from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.editions import curation
from mailer.editions.schedule import DigestScheduler
from mailer.editor.previews import Previews
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

FIRE = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 07:00 in Baghdad: the daily cron


def title(n: int) -> str:
    return f"عنوان الخبر رقم {n} عن العراق"


async def publish(service: Service, n: int, at: datetime) -> None:
    """Article ``n``, published at ``at``."""
    parsed = ingest.parse_feed(factories.rss([factories.item(n, at + timedelta(minutes=n))]), now=at)
    async with service.db.transaction() as session:
        await ingest.store(session, parsed.articles)


def titles_received(smtp_server: SMTPServer) -> list[tuple[str, list[int]]]:
    """Per message, in order of arrival: the recipient and the article numbers in it."""
    out = []
    for r in smtp_server.received:
        html = r.message.get_body(("html",)).get_content()
        out.append((r.rcpt_tos[0], [n for n in range(1, 30) if title(n) in html]))
    return out


async def editions(service: Service) -> list[tuple[str, str]]:
    async with service.db.transaction() as session:
        return [(e.list_name, e.status) for e in await session.scalars(select(Edition).order_by(Edition.id))]


async def test_catch_up_never_reaches_back_before_the_installation(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock
) -> None:
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url)
    clock.now = FIRE + timedelta(hours=2, minutes=30)  # installed at 09:30 in Baghdad: after the daily fire
    service = await Service(settings, clock=clock).start()
    try:
        await publish(service, 1, FIRE - timedelta(hours=5))  # yesterday's news
        await publish(service, 2, FIRE + timedelta(hours=1))
        await factories.subscriber(service, "reader@example.org")
        crons = {name: settings.cron_for(name) for name in settings.scheduled_lists}
        scheduler = DigestScheduler(crons, settings.timezone, service.run_list)
        await scheduler.catch_up(clock.now)  # the first start: today's daily, last Friday's weekly
        assert await editions(service) == []  # nothing held, nothing to repeat later
        await service.sender.drain()
        assert smtp_server.received == []

        clock.now = FIRE + timedelta(days=1)  # the next fire goes out as usual, with its period's news
        assert (await service.run_list("daily", clock.now)).action == "sending"
        await service.sender.drain()
        assert titles_received(smtp_server) == [("reader@example.org", [2])]
    finally:
        await service.close()


async def test_catch_up_never_reaches_back_before_the_last_edition_that_went_out(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    await publish(service, 1, FIRE - timedelta(hours=2))
    await factories.subscriber(service, "reader@example.org")
    assert (await service.run_list("daily", FIRE)).action == "sending"  # day 1, on time
    await service.sender.drain()
    await publish(service, 2, FIRE + timedelta(hours=2))
    clock.now = FIRE + timedelta(days=1, hours=1)  # the service was down at day 2's fire; an
    assert (await service.send_now("daily")).action == "sending"  # operator sends one at 08:00
    await service.sender.drain()
    await publish(service, 3, clock.now + timedelta(minutes=10))
    clock.now = FIRE + timedelta(days=1, hours=3)  # the service comes back at 10:00
    scheduler = DigestScheduler({"daily": service.settings.daily_cron}, service.settings.timezone, service.run_list)
    await scheduler.catch_up(clock.now)  # day 2's fire is before that edition: not planned
    assert await editions(service) == [("daily", "sent"), ("daily", "sent")]
    clock.now = FIRE + timedelta(days=2)  # the next fire sends what came since
    assert (await service.run_list("daily", clock.now)).action == "sending"
    await service.sender.drain()
    assert titles_received(smtp_server) == [("reader@example.org", [n]) for n in (1, 2, 3)]


async def _held_then_next(service: Service, clock: Clock, *, early: bool) -> tuple[int, int]:
    """The daily at FIRE is held (the service was down) and the next day's goes out; articles 2
    and 3 were published after FIRE, so both editions have them. Returns both ids."""
    if early:
        await publish(service, 1, FIRE - timedelta(hours=2))
    await publish(service, 2, FIRE + timedelta(hours=1))
    await publish(service, 3, FIRE + timedelta(hours=2))
    await factories.subscriber(service, "reader@example.org")
    clock.now = FIRE + timedelta(hours=3)  # up again three hours after the fire: stale
    held = await service.run_list("daily", FIRE)
    assert held.action == "held" and held.edition is not None
    clock.now = FIRE + timedelta(days=1)
    await publish(service, 4, clock.now - timedelta(hours=1))
    sent = await service.run_list("daily", clock.now)
    assert sent.action == "sending" and sent.edition is not None
    await service.sender.drain()
    return held.edition.id, sent.edition.id


async def test_a_held_edition_sends_each_reader_only_what_they_have_not_had(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    held_id, next_id = await _held_then_next(service, clock, early=True)
    assert titles_received(smtp_server) == [("reader@example.org", [2, 3, 4])]

    # the preview of the held edition says what went out since, and shows what is left
    previews = Previews(service.settings, service.renderer)
    preview = await previews.build(service.db, "edition", str(held_id), {}, clock.now)
    facts = preview.digest
    assert facts is not None
    assert [a.title for a in facts.articles] == [title(1)]
    assert {(a.title, a.sent_in) for a in facts.sent_elsewhere} == {(title(2), next_id), (title(3), next_id)}
    assert title(2) not in preview.message(previews.personal(preview, to="x@example.org")).as_string()

    async with service.db.transaction() as session:  # the editor presses "send it now"
        await curation.send_held(session, held_id, clock.now, enqueue=outbox.enqueue_edition)
    await service.sender.drain()
    assert titles_received(smtp_server) == [("reader@example.org", [2, 3, 4]), ("reader@example.org", [1])]


async def test_a_held_edition_whose_articles_all_went_out_cannot_be_sent(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    held_id, _ = await _held_then_next(service, clock, early=False)
    async with service.db.transaction() as session:
        held = await session.get(Edition, held_id)
        assert held is not None and held.status == "superseded"  # marked when the next one claimed
    with pytest.raises(Conflict) as refused:
        async with service.db.transaction() as session:
            await curation.send_held(session, held_id, clock.now, enqueue=outbox.enqueue_edition)
    assert refused.value.public_message
    await service.sender.drain()
    assert titles_received(smtp_server) == [("reader@example.org", [2, 3, 4])]


async def test_two_editions_planned_at_once_never_carry_the_same_article(
    settings: Settings, smtp_server: SMTPServer, clock: Clock
) -> None:
    from mailer.core.models import ListArticle  # the table that keeps the rule

    first = await Service(settings, clock=clock).start()
    second = await Service(settings, clock=clock).start()
    try:
        for n in (1, 2, 3):
            await publish(first, n, FIRE - timedelta(hours=n))
        await factories.subscriber(first, "reader@example.org")
        results = await asyncio.gather(
            first.run_list("daily", clock.now, force=True, key="now-a"),
            second.run_list("daily", clock.now, force=True, key="now-b"),
        )
        # one carries the articles; the other finds none left (SQLite lets one plan at a time)
        # or loses every claim to the first (PostgreSQL plans both at once): never both
        actions = sorted(r.action for r in results)
        assert actions in (["empty", "sending"], ["sending", "superseded"])
        await first.sender.drain()
        async with first.db.transaction() as session:
            carried = await session.scalar(select(func.count()).select_from(ListArticle))
    finally:
        await first.close()
        await second.close()
    assert carried == 3
    assert titles_received(smtp_server) == [("reader@example.org", [1, 2, 3])]


async def test_the_database_refuses_a_second_edition_of_a_list_carrying_an_article(
    service: Service, clock: Clock
) -> None:
    from mailer.core.models import ListArticle  # the table that keeps the rule

    await publish(service, 1, FIRE - timedelta(hours=1))
    await factories.subscriber(service, "reader@example.org")
    sent = await service.run_list("daily", clock.now)
    assert sent.edition is not None
    async with service.db.transaction() as session:
        article_id = await session.scalar(select(ListArticle.article_id))
        other = Edition(list_name="daily", period_key="by-hand", scheduled_at=clock.now, status="sending")
        session.add(other)
        await session.flush()
        other_id = other.id
    with pytest.raises(IntegrityError):
        async with service.db.transaction() as session:
            session.add(ListArticle(list_name="daily", article_id=article_id, edition_id=other_id,
                                    claimed_at=clock.now))
    async with service.db.transaction() as session:  # another list may carry it
        session.add(ListArticle(list_name="weekly", article_id=article_id, edition_id=other_id,
                                claimed_at=clock.now))


async def test_a_second_send_now_sends_the_new_articles_and_repeats_nothing(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    await publish(service, 1, clock.now - timedelta(hours=1))
    await factories.subscriber(service, "reader@example.org")
    first = await service.send_now("daily")
    await service.sender.drain()
    clock.advance(seconds=20)  # within the same minute
    await publish(service, 2, clock.now - timedelta(seconds=10))
    second = await service.send_now("daily")
    await service.sender.drain()
    clock.advance(seconds=20)
    third = await service.send_now("daily")  # nothing new: nothing to send
    await service.sender.drain()
    assert [first.action, second.action, third.action] == ["sending", "sending", "empty"]
    assert first.edition is not None and second.edition is not None
    assert first.edition.id != second.edition.id
    assert titles_received(smtp_server) == [("reader@example.org", [1]), ("reader@example.org", [2])]
