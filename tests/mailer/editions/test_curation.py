"""The next edition as a draft an editor can curate, and ``planning.plan`` respecting that draft
at fire time: the editor's order and exclusions are kept, later articles are added."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mailer.articles import ingest
from mailer.core.errors import Conflict, NotFound
from mailer.core.models import Article, Edition, EditionArticle
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.editions import curation, planning
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

FIRE = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 07:00 in Baghdad: the daily cron
BEFORE = FIRE - timedelta(hours=3)


def title(n: int) -> str:
    return f"عنوان الخبر رقم {n} عن العراق"


async def open_draft(service: Service) -> Edition:
    async with service.db.transaction() as session:
        return await curation.open_upcoming(session, service.settings, "daily", service.clock())


async def rows(service: Service, edition_id: int) -> list[tuple[int, bool]]:
    async with service.db.transaction() as session:
        result = await session.execute(
            select(EditionArticle.article_id, EditionArticle.excluded)
            .where(EditionArticle.edition_id == edition_id)
            .order_by(EditionArticle.position)
        )
        return [(a, bool(x)) for a, x in result]


async def ids_by_title(service: Service) -> dict[str, int]:
    async with service.db.transaction() as session:
        return {t: i for i, t in await session.execute(select(Article.id, Article.title))}


async def edit(service: Service, action: str, edition_id: int, article_id: int = 0) -> None:
    async with service.db.transaction() as session:
        now = service.clock()
        if action == "exclude":
            await curation.set_excluded(session, service.settings, edition_id, article_id, True, "sara", now)
        elif action == "include":
            await curation.set_excluded(session, service.settings, edition_id, article_id, False, "sara", now)
        elif action in ("up", "down"):
            await curation.move(session, edition_id, article_id, -1 if action == "up" else 1, "sara", now)
        elif action == "hold":
            await curation.hold(session, edition_id, "sara", now)
        elif action == "resume":
            await curation.resume(session, edition_id, now)


def order_in(html: str, titles: list[str]) -> list[int]:
    return [html.find(t) for t in titles]


async def test_the_next_edition_is_the_row_the_scheduler_sends(service: Service, clock: Clock, smtp_server: SMTPServer) -> None:
    clock.now = BEFORE
    await factories.ingest_items(service, 3, clock.now)
    await factories.subscriber(service, "reader@example.org")
    draft = await open_draft(service)
    assert (draft.status, draft.scheduled_at, draft.period_key) == ("draft", FIRE, "2026-11-25T07:00")
    assert draft.id == (await open_draft(service)).id  # opening again finds the same row
    clock.now = FIRE
    result = await service.run_list("daily", FIRE)
    assert (result.action, result.edition.id) == ("sending", draft.id)
    assert await service.sender.drain() == {"sent": 1}


async def test_plan_keeps_the_editors_choice_and_adds_later_articles(
    service: Service, clock: Clock, smtp_server: SMTPServer
) -> None:
    clock.now = BEFORE
    await factories.ingest_items(service, 4, clock.now)  # 1 newest ... 4 oldest
    await factories.subscriber(service, "reader@example.org")
    draft = await open_draft(service)
    ids = await ids_by_title(service)
    assert [a for a, _ in await rows(service, draft.id)] == [ids[title(n)] for n in (1, 2, 3, 4)]
    await edit(service, "exclude", draft.id, ids[title(2)])
    await edit(service, "up", draft.id, ids[title(4)])  # 1, 4, 3
    await edit(service, "up", draft.id, ids[title(4)])  # 4, 1, 3

    clock.now = BEFORE + timedelta(hours=1)
    later = ingest.parse_feed(factories.rss([factories.item(9, clock.now, title="خبر لاحق")]), now=clock.now)
    async with service.db.transaction() as session:
        await ingest.store(session, later.articles)
    # the editor looks again: the late article is there, after their choice; the dropped one stays out
    await open_draft(service)
    ids = await ids_by_title(service)
    expected = [ids[title(4)], ids[title(1)], ids[title(3)], ids["خبر لاحق"]]
    current = await rows(service, draft.id)
    assert [a for a, x in current if not x] == expected
    assert (ids[title(2)], True) in current

    clock.now = FIRE
    assert (await service.run_list("daily", FIRE)).action == "sending"
    await service.sender.drain()
    html = smtp_server.received[0].message.get_body(("html",)).get_content()
    positions = order_in(html, [title(4), title(1), title(3), "خبر لاحق"])
    assert -1 not in positions and positions == sorted(positions)
    assert title(2) not in html


async def test_articles_arriving_after_the_draft_join_at_fire_time(
    service: Service, clock: Clock, smtp_server: SMTPServer
) -> None:
    clock.now = BEFORE
    await factories.ingest_items(service, 2, clock.now)
    await factories.subscriber(service, "reader@example.org")
    draft = await open_draft(service)
    await edit(service, "up", draft.id, (await ids_by_title(service))[title(2)])  # curated: 2, 1
    clock.now = FIRE - timedelta(minutes=5)
    late = ingest.parse_feed(factories.rss([factories.item(50, clock.now, title="خبر الدقيقة الأخيرة")]),
                             now=clock.now)
    async with service.db.transaction() as session:
        await ingest.store(session, late.articles)
    clock.now = FIRE
    assert (await service.run_list("daily", FIRE)).action == "sending"
    await service.sender.drain()
    html = smtp_server.received[0].message.get_body(("html",)).get_content()
    positions = order_in(html, [title(2), title(1), "خبر الدقيقة الأخيرة"])
    assert -1 not in positions and positions == sorted(positions)


async def test_an_untouched_draft_is_what_plan_would_choose_anyway(service: Service, clock: Clock) -> None:
    clock.now = BEFORE
    await factories.ingest_items(service, 2, clock.now)
    draft = await open_draft(service)
    clock.now = BEFORE + timedelta(hours=1)
    newer = ingest.parse_feed(factories.rss([factories.item(0, clock.now, title="الأحدث")]), now=clock.now)
    async with service.db.transaction() as session:
        await ingest.store(session, newer.articles)
    clock.now = FIRE
    await service.run_list("daily", FIRE)
    ids = await ids_by_title(service)
    # newest first, as if nobody had opened the draft
    assert [a for a, _ in await rows(service, draft.id)] == [ids["الأحدث"], ids[title(1)], ids[title(2)]]


async def test_a_withdrawn_article_leaves_a_curated_draft(service: Service, clock: Clock) -> None:
    clock.now = BEFORE
    await factories.ingest_items(service, 2, clock.now)
    draft = await open_draft(service)
    ids = await ids_by_title(service)
    await edit(service, "down", draft.id, ids[title(1)])
    async with service.db.transaction() as session:
        withdrawn = await session.get(Article, ids[title(1)])
        assert withdrawn is not None
        withdrawn.status = "unpublished"
    await open_draft(service)
    assert await rows(service, draft.id) == [(ids[title(2)], False)]


async def test_restoring_is_refused_when_the_edition_is_full(
    service: Service, clock: Clock, make_settings, database_url: str, smtp_server: SMTPServer
) -> None:
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, max_articles=2)
    small = await Service(settings, clock=clock).start()
    try:
        clock.now = BEFORE
        await factories.ingest_items(small, 3, clock.now)
        draft = await open_draft(small)
        ids = await ids_by_title(small)
        assert len(await rows(small, draft.id)) == 2
        await edit(small, "exclude", draft.id, ids[title(1)])
        await open_draft(small)  # curated: the freed place does not pull in an older article
        assert [a for a, x in await rows(small, draft.id) if not x] == [ids[title(2)]]
        clock.now = BEFORE + timedelta(minutes=30)
        newer = ingest.parse_feed(factories.rss([factories.item(0, clock.now, title="جديد")]), now=clock.now)
        async with small.db.transaction() as session:
            await ingest.store(session, newer.articles)
        await open_draft(small)  # but a new article takes the free place
        ids = await ids_by_title(small)
        assert [a for a, x in await rows(small, draft.id) if not x] == [ids[title(2)], ids["جديد"]]
        with pytest.raises(Conflict) as refused:
            await edit(small, "include", draft.id, ids[title(1)])
        assert "ممتلئ" in refused.value.public_message
    finally:
        await small.close()


async def test_hold_keeps_it_from_going_out_until_an_editor_says_so(
    service: Service, clock: Clock, smtp_server: SMTPServer
) -> None:
    clock.now = BEFORE
    await factories.ingest_items(service, 2, clock.now)
    await factories.subscriber(service, "reader@example.org")
    draft = await open_draft(service)
    await edit(service, "hold", draft.id)
    await edit(service, "resume", draft.id)  # changed their mind: back on schedule
    await edit(service, "hold", draft.id)
    clock.now = FIRE
    assert (await service.run_list("daily", FIRE)).action == "exists"
    assert await service.sender.drain() == {}
    with pytest.raises(Conflict):  # its time has passed: only "send now" is left
        await edit(service, "resume", draft.id)
    await edit(service, "exclude", draft.id, (await ids_by_title(service))[title(1)])  # still editable
    async with service.db.transaction() as session:
        result = await curation.send_held(session, draft.id, clock.now, enqueue=outbox.enqueue_edition)
    assert (result.action, result.enqueued) == ("sending", 1)
    assert await service.sender.drain() == {"sent": 1}
    html = smtp_server.received[0].message.get_body(("html",)).get_content()
    assert title(2) in html and title(1) not in html


async def test_no_change_once_it_is_sending(service: Service, clock: Clock, smtp_server: SMTPServer) -> None:
    clock.now = BEFORE
    await factories.ingest_items(service, 2, clock.now)
    await factories.subscriber(service, "reader@example.org")
    draft = await open_draft(service)
    clock.now = FIRE
    await service.run_list("daily", FIRE)
    article_id = (await ids_by_title(service))[title(1)]
    for action in ("exclude", "up", "hold"):
        with pytest.raises(Conflict):
            await edit(service, action, draft.id, article_id)
    async with service.db.transaction() as session:
        with pytest.raises(Conflict):
            await curation.send_held(session, draft.id, clock.now, enqueue=outbox.enqueue_edition)
        edition = await session.get(Edition, draft.id)
        assert edition is not None and edition.curated_at is None  # the refused change left nothing
    with pytest.raises(NotFound):
        await edit(service, "exclude", 9999, article_id)


async def test_unknown_list_is_not_found(service: Service) -> None:
    async with service.db.transaction() as session:
        with pytest.raises(NotFound):
            await curation.open_upcoming(session, service.settings, "hourly", service.clock())
    assert planning.period_start(service.settings, "daily", FIRE) == FIRE - timedelta(days=1)
