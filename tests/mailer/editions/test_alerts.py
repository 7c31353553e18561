"""Breaking news: an article marked breaking (the API's ``breaking: true``, an editor's button; the
feed's category is in test_feed_polling.py) goes at once to the subscribers of the immediate
lists through the outbox at share priority, once per article ever and once per subscriber, under a
daily cap per list; the next digest carries it marked "عاجل"."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailer.articles import ingest
from mailer.core.models import ALERT, Article, Edition, OutboxMessage
from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.editions import curation
from tests.conftest import API_TOKEN, Clock
from tests.mailer.web.test_editor_auth import page_csrf, sign_in
from tests.support import factories
from tests.support.smtpd import SMTPServer

LISTS = {
    "daily": {"name": "النشرة اليومية", "schedule": "0 7 * * *"},
    "breaking": {"name": "الأخبار العاجلة", "schedule": "immediate", "daily_cap": 2},
    "sportflash": {"name": "عاجل الرياضة", "schedule": "immediate", "sections": ["رياضة"]},
}
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer) -> Settings:
    return make_settings(database_url=database_url, smtp_url=smtp_server.url, lists=LISTS)


def article(n: int, clock: Clock, **extra: Any) -> dict[str, Any]:
    return {"url": f"https://news.example.com/news/{n}", "title": f"انفجار في المنطقة الخضراء رقم {n}",
            "summary": "<p>أفادت مصادر أمنية بوقوع انفجار قرب مبنى حكومي.</p>", "section": "سياسة",
            "published_at": (clock.now - timedelta(minutes=5)).isoformat(), **extra}


async def rows(svc: Service, *where: Any) -> list[OutboxMessage]:
    async with svc.db.transaction() as session:
        return list(await session.scalars(select(OutboxMessage).where(*where).order_by(OutboxMessage.id)))


async def editions(svc: Service) -> list[Edition]:
    async with svc.db.transaction() as session:
        return list(await session.scalars(select(Edition).order_by(Edition.id)))


async def test_breaking_news_goes_at_once_to_the_immediate_lists_and_never_twice(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await factories.subscriber(service, "both@example.org", lists=("daily", "breaking"))
    await factories.subscriber(service, "digest@example.org", lists=("daily",))
    await factories.subscriber(service, "fan@example.org", lists=("breaking", "sportflash"))
    await factories.subscriber(service, "away@example.org", lists=("breaking",), status="paused")
    async with httpx.AsyncClient(base_url=live_app, headers=AUTH) as client:
        first = await client.post("/api/articles", json=article(1, clock, breaking=True))
        assert first.status_code == 200 and first.json()["alerts"] == {"breaking": "sending"}
        alerts = await rows(service, OutboxMessage.kind == ALERT)
        assert sorted(r.recipient for r in alerts) == ["both@example.org", "fan@example.org"]
        assert {r.priority for r in alerts} == {outbox.URGENT_PRIORITY}
        await service.sender.drain()
        mails = {r.rcpt_tos[0]: r.message for r in smtp_server.received}
        assert sorted(mails) == ["both@example.org", "fan@example.org"]
        mail = mails["both@example.org"]
        html = mail.get_body(("html",)).get_content()
        # (the header itself: Python 3.11's email folding may drop the space where it splits a long
        # Arabic subject into two encoded words; the subject as rendered is in the HTML title)
        assert "<title>عاجل: انفجار في المنطقة الخضراء رقم 1</title>" in html and mail["Subject"].startswith("عاجل: ")
        assert "<breaking.news.example.com>" in mail["List-Id"] and mail["List-Unsubscribe-Post"]
        assert '<html dir="rtl" lang="ar">' in html and "خبر عاجل" in html and "الأخبار العاجلة" in html
        assert "https://news.example.com/news/1" in mail.get_body(("plain",)).get_content()

        # posted again, edited, or marked again: updated in place, never sent again
        again = await client.post("/api/articles", json=article(1, clock, breaking=True))
        edited = await client.post("/api/articles", json=article(1, clock, breaking=True, title="عنوان مُحدَّث"))
        assert again.json()["status"] == "unchanged" and again.json()["alerts"] == {}
        assert edited.json()["status"] == "updated" and edited.json()["alerts"] == {}
        assert await service.alert(first.json()["id"]) == []
        # a sport flash is on two immediate lists of one subscriber: they get it once
        sport = await client.post("/api/articles", json=article(2, clock, breaking=True, section="رياضة"))
        assert sport.json()["alerts"] == {"breaking": "sending", "sportflash": "sending"}
    await service.sender.drain()
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received[2:]) == ["both@example.org", "fan@example.org"]
    assert len(await rows(service, OutboxMessage.kind == ALERT)) == 4

    # the next digest carries both, marked as breaking news, for everyone on the list
    result = await service.run_list("daily", clock.now)
    assert result.action == "sending", result.describe()
    await service.sender.drain()
    digests = {r.rcpt_tos[0]: r.message for r in smtp_server.received[4:]}
    assert sorted(digests) == ["both@example.org", "digest@example.org"]
    text = digests["digest@example.org"].get_body(("plain",)).get_content()
    assert "[عاجل] عنوان مُحدَّث" in text and "[عاجل] انفجار في المنطقة الخضراء رقم 2" in text
    assert 'class="breaking-label' in digests["both@example.org"].get_body(("html",)).get_content()


async def test_two_requests_at_once_make_one_alert(service: Service, clock: Clock) -> None:
    for n in range(5):
        await factories.subscriber(service, f"r{n}@example.org", lists=("breaking",))
    [article_id] = (await factories.ingest_items(service, 1, clock.now)).ids
    results = await asyncio.gather(*(service.alert(article_id) for _ in range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert len(await rows(service, OutboxMessage.kind == ALERT)) == 5


async def test_a_daily_cap_holds_the_alert_for_an_editor(service: Service, clock: Clock) -> None:
    await factories.subscriber(service, "reader@example.org", lists=("breaking",))
    ids = (await factories.ingest_items(service, 4, clock.now)).ids  # published minutes ago
    outcomes = [[r.action for r in await service.alert(i)] for i in ids[:3]]
    assert outcomes == [["sending"], ["sending"], ["held"]]
    held = [e for e in await editions(service) if e.status == "held"]
    assert len(held) == 1 and held[0].status_reason is not None
    assert held[0].status_reason.startswith("daily cap reached (2 of 2 alerts today)")
    assert len(await rows(service, OutboxMessage.kind == ALERT)) == 2
    # an editor decides: send it now
    async with service.db.transaction() as session:
        await curation.send_held(session, held[0].id, clock.now, enqueue=outbox.enqueue_edition)
    assert len(await rows(service, OutboxMessage.kind == ALERT)) == 3
    # a new day in the site's time zone (Baghdad): room again
    clock.advance(hours=20)  # 04:00 UTC + 20 h = 03:00 the next day in Baghdad
    parsed = ingest.parse_feed(factories.rss([factories.item(99, clock.now)]), now=clock.now)
    async with service.db.transaction() as session:
        [fresh] = (await ingest.store(session, parsed.articles)).ids
    assert [r.action for r in await service.alert(fresh)] == ["sending"]


async def test_an_old_article_is_held_not_sent_unasked(service: Service, clock: Clock) -> None:
    await factories.subscriber(service, "reader@example.org", lists=("breaking",))
    [old] = (await factories.ingest_items(service, 1, clock.now - timedelta(hours=5))).ids
    [result] = await service.alert(old)
    assert result.action == "held" and "published 5 h" in (result.edition.status_reason or "")
    assert await rows(service, OutboxMessage.kind == ALERT) == []


async def test_an_alert_goes_ahead_of_a_digest_being_sent(service: Service, clock: Clock) -> None:
    for n in range(20):
        await factories.subscriber(service, f"r{n:02d}@example.org", lists=("daily", "breaking"))
    ids = (await factories.ingest_items(service, 3, clock.now)).ids
    assert (await service.run_list("daily", clock.now)).enqueued == 20
    await service.alert(ids[0])
    async with service.db.transaction() as session:
        claimed = await outbox.claim(session, "test", clock.now, lease=timedelta(minutes=5), limit=20)
    assert [c.kind for c in claimed] == [ALERT] * 20  # every alert before any digest row


async def test_the_editors_button_sends_once_and_says_why_not(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await factories.editor(service)
    await factories.subscriber(service, "reader@example.org", lists=("breaking",))
    [article_id] = (await factories.ingest_items(service, 1, clock.now)).ids
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client)
        csrf = await page_csrf(client, f"/editor/preview/alert?ref={article_id}")
        preview = await client.get("/editor/preview/alert", params={"ref": article_id})
        assert 'id="send-breaking"' in preview.text and "عاجل: عنوان الخبر رقم 1" in preview.text
        forged = await client.post(f"/editor/articles/{article_id}/breaking", data={"csrf": "forged"})
        assert forged.status_code == 403 and await rows(service, OutboxMessage.kind == ALERT) == []
        sent = await client.post(f"/editor/articles/{article_id}/breaking", data={"csrf": csrf})
        assert sent.status_code == 303 and "alerted=sending" in sent.headers["location"]
        shown = await client.get(sent.headers["location"])
        assert "أُرسل التنبيه العاجل الآن" in shown.text
        twice = await client.post(f"/editor/articles/{article_id}/breaking", data={"csrf": csrf})
        assert twice.status_code == 409 and "لا يُرسل إلا مرة واحدة" in twice.text
        home = await client.get("/editor")
        assert "أُرسل عاجلاً" in home.text
    await service.sender.drain()
    assert [r.rcpt_tos[0] for r in smtp_server.received] == ["reader@example.org"]


async def test_without_an_immediate_list_the_button_explains_and_changes_nothing(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock
) -> None:
    from tests.conftest import serve

    svc = await Service(make_settings(database_url=database_url, smtp_url=smtp_server.url), clock=clock).start()
    try:
        await factories.editor(svc)
        [article_id] = (await factories.ingest_items(svc, 1, clock.now)).ids
        async with serve(svc) as url, httpx.AsyncClient(base_url=url) as client:
            await sign_in(client)
            home = await client.get("/editor")
            assert "/breaking" not in home.text  # no button where it cannot work
            csrf = await page_csrf(client)
            refused = await client.post(f"/editor/articles/{article_id}/breaking", data={"csrf": csrf})
            assert refused.status_code == 409 and "لا توجد نشرة للأخبار العاجلة" in refused.text
        async with svc.db.transaction() as session:
            article_row = await session.get(Article, article_id)
            assert article_row is not None and article_row.breaking_at is None
    finally:
        await svc.close()
