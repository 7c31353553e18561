"""Ingest: feeds and the CMS API, idempotent, sanitised, with problems reported by position."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from mailer.articles import ingest
from mailer.core.errors import InvalidFeed, InvalidInput
from mailer.core.models import Article
from mailer.delivery.service import Service
from tests.conftest import API_TOKEN, Clock
from tests.support import factories

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
FIXTURE_TITLE = "تنسيق سوري- عراقي تزامنا مع اقتراب تحرير القائم والبوكمال للسيطرة على الحدود بين البلدين"


async def _article_count(svc: Service) -> int:
    async with svc.db.transaction() as session:
        return int((await session.scalar(select(func.count()).select_from(Article))) or 0)


async def test_same_feed_twice_stores_each_article_once(service: Service, clock: Clock) -> None:
    first = await factories.ingest_items(service, 5, clock.now)
    second = await factories.ingest_items(service, 5, clock.now)
    assert (first.new, first.updated, first.unchanged) == (5, 0, 0)
    assert (second.new, second.updated, second.unchanged) == (0, 0, 5)
    assert await _article_count(service) == 5


async def test_an_update_changes_the_stored_article(service: Service, clock: Clock) -> None:
    await factories.ingest_items(service, 2, clock.now)
    item = factories.item(1, clock.now, title="عنوان مُحدَّث للخبر الأول")
    parsed = ingest.parse_feed(factories.rss([item]), now=clock.now)
    async with service.db.transaction() as session:
        result = await ingest.store(session, parsed.articles)
        title = (await session.scalars(select(Article.title).where(Article.id == result.ids[0]))).one()
    assert (result.new, result.updated) == (0, 1)
    assert title == "عنوان مُحدَّث للخبر الأول"
    assert await _article_count(service) == 2


def test_malformed_entries_are_reported_and_the_rest_kept() -> None:
    good = factories.item(1, NOW)
    no_title = {**factories.item(2, NOW), "title": ""}
    bad_link = {**factories.item(3, NOW), "link": "javascript:alert(1)", "guid": "g3"}
    no_link = {k: v for k, v in factories.item(4, NOW).items() if k not in ("link", "guid")}
    parsed = ingest.parse_feed(factories.rss([good, no_title, bad_link, no_link]), now=NOW)
    assert [a.url for a in parsed.articles] == ["https://news.example.com/news/1"]
    assert [p.position.split(" (")[0] for p in parsed.problems] == ["entry 2", "entry 3", "entry 4"]
    assert "no title" in parsed.problems[0].message
    assert "not an http(s) URL" in parsed.problems[1].message


def test_broken_xml_is_reported_with_its_line_and_the_rest_kept() -> None:
    feed = factories.rss([factories.item(1, NOW), factories.item(2, NOW)]).replace(
        b"</channel>", b"<item><title>oops</titl></item></channel>"
    )
    parsed = ingest.parse_feed(feed, now=NOW)
    assert len(parsed.articles) == 2
    assert parsed.problems[0].position.startswith("line 1, column ")
    assert "malformed XML" in parsed.problems[0].message
    assert parsed.problems[1].position == "entry 3"


def test_not_a_feed_at_all() -> None:
    with pytest.raises(InvalidFeed, match=r"not .*feed"):
        ingest.parse_feed("هذا ليس ملف أخبار".encode(), now=NOW)


def test_atom_is_read_too() -> None:
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>أخبار</title><id>urn:x</id><updated>2026-11-25T04:00:00Z</updated>"
        f"<entry><title>{FIXTURE_TITLE}</title><id>urn:a:1</id>"
        '<link href="https://news.example.com/news/9"/><updated>2026-11-25T03:00:00Z</updated>'
        '<summary type="html">&lt;p&gt;نص&lt;/p&gt;</summary><category term="العراق"/></entry></feed>'
    ).encode()
    [article] = ingest.parse_feed(atom, now=NOW).articles
    assert (article.guid, article.title, article.section) == ("urn:a:1", FIXTURE_TITLE, "العراق")
    assert article.published_at == datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_sanitising_drops_scripts_and_keeps_arabic_exactly() -> None:
    text = "إلتقت القوات العراقية “نائب رئيس هيئة الحشد الشعبي” بالإرهابي، 250 كيلومتراً"
    dirty = f'<p dir="rtl" onclick="steal()">{text}<script>alert(1)</script><a href="javascript:x()">رابط</a></p>'
    clean = ingest.sanitise(dirty)
    assert text in clean and 'dir="rtl"' in clean
    assert "script" not in clean and "onclick" not in clean and "javascript" not in clean
    assert ingest.to_text(dirty) == text + "رابط"


def test_the_site_fixture_round_trips(tmp_path) -> None:
    from mailer.articles import demo

    parsed = ingest.parse_feed(demo.demo_feed("https://news.example.com", NOW), now=NOW)
    assert not parsed.problems
    assert parsed.articles[0].title == FIXTURE_TITLE
    assert parsed.articles[0].summary_text == demo.paragraphs()[0]


async def test_cms_api_creates_then_updates(service: Service, live_app: str) -> None:
    article = {"url": "https://news.example.com/news/77", "title": FIXTURE_TITLE,
               "summary": "<p>ملخص</p>", "section": "العراق", "published_at": "2026-11-25T06:30:00+03:00"}
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=live_app) as client:
        first = await client.post("/api/articles", json=article, headers=auth)
        again = await client.post("/api/articles", json={**article, "title": "عنوان جديد"}, headers=auth)
        no_token = await client.post("/api/articles", json=article)
        bad = await client.post("/api/articles", json={**article, "url": "ftp://x"}, headers=auth)
        naive = await client.post("/api/articles", json={**article, "published_at": "2026-11-25T06:30"}, headers=auth)
    assert first.status_code == 200 and first.json()["status"] == "created"
    assert again.json() == {**first.json(), "status": "updated"}
    assert no_token.status_code == 401
    assert bad.status_code == 400 and bad.json()["field"] == "url"
    assert naive.status_code == 400 and naive.json()["field"] == "published_at"
    assert await _article_count(service) == 1


def test_api_payload_errors_name_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        ingest.parse_api({"url": "https://news.example.com/a", "title": ""}, now=NOW)
    assert caught.value.field == "title"
    with pytest.raises(InvalidInput) as caught:
        ingest.parse_api({"url": "https://news.example.com/a", "title": "x", "colour": "red"}, now=NOW)
    assert caught.value.field == "colour"
