"""Click and open tracking through the real app, on SQLite and PostgreSQL: a digest sent to the
in-process SMTP server, its tracked links followed over HTTP. A good link redirects and is
counted once per edition and article (no reader named unless per_reader is on); anything tampered
with gets an Arabic page and no redirect; machines are counted apart; off changes nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from mailer.core.models import Article, Edition, ReaderEvent, TrackingCount
from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.delivery.service import Service
from subscribers import flows
from subscribers.models import Subscriber
from tests.conftest import Clock, serve
from tests.support import factories
from tests.support.inlining import premailer_threads
from tests.support.smtpd import SMTPServer

BASE = "https://news.example.com"
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
          "Safari/537.36")
READERS = ("first@example.org", "second@example.org")


def article_url(n: int) -> str:
    return f"{BASE}/news/{n}"


@pytest.fixture
def start(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock
) -> Callable[..., Any]:
    services: list[Service] = []

    async def make(**overrides: Any) -> Service:
        settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, **overrides)
        svc = await Service(settings, clock=clock).start()
        services.append(svc)
        return svc

    make.services = services  # type: ignore[attr-defined]
    return make


@pytest.fixture
async def cleanup(start: Any) -> AsyncIterator[None]:
    yield
    for svc in start.services:
        await svc.close()


async def send_digest(svc: Service, clock: Clock, readers: tuple[str, ...] = READERS) -> Edition:
    await factories.ingest_items(svc, 3, clock.now)
    for address in readers:
        await factories.subscriber(svc, address)
    result = await svc.run_list("daily", clock.now)
    assert result.action == "sending" and result.edition is not None
    assert await svc.sender.drain() == {"sent": len(readers)}
    return result.edition


def html_of(smtp_server: SMTPServer, to: str) -> str:
    msg = next(r.message for r in smtp_server.received if r.rcpt_tos[0] == to)
    return msg.get_body(("html",)).get_content()  # type: ignore[union-attr]


def links(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]*)"', html)]


def tracked_link_to(html: str, target: str) -> str:
    found = [h for h in links(html) if h.startswith(f"{BASE}/r/") and parse_qs(urlsplit(h).query)["u"] == [target]]
    assert found, f"no tracked link to {target}"
    return found[0]


def local(url: str) -> str:
    """The path of a link in the mail, to ask the app under test (served on a loopback port)."""
    return url.removeprefix(BASE)


async def counts(svc: Service) -> dict[tuple[int, int, str, str], int]:
    async with svc.db.transaction() as session:
        rows = await session.execute(select(TrackingCount.edition_id, TrackingCount.article_id, TrackingCount.kind,
                                            TrackingCount.audience, TrackingCount.count))
        return {(e, a, k, w): n for e, a, k, w, n in rows}


async def reader_events(svc: Service) -> list[tuple[int, int, int, str, str]]:
    async with svc.db.transaction() as session:
        rows = await session.execute(select(ReaderEvent.edition_id, ReaderEvent.article_id, ReaderEvent.subscriber_id,
                                            ReaderEvent.kind, ReaderEvent.audience).order_by(ReaderEvent.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def article_id(svc: Service, n: int) -> int:
    async with svc.db.transaction() as session:
        return int(await session.scalar(select(Article.id).where(Article.url == article_url(n))) or 0)


async def test_a_click_from_a_received_digest_redirects_and_is_counted_for_its_article_only(
    start: Any, cleanup: None, clock: Clock, smtp_server: SMTPServer
) -> None:
    svc = await start()
    edition = await send_digest(svc, clock)
    first, second = (html_of(smtp_server, to) for to in READERS)
    # compose once: the tracked links are the same for every recipient of the variant
    assert [h for h in links(first) if "/r/" in h] == [h for h in links(second) if "/r/" in h]
    # the personal links and the header are never tracked
    assert any(h.startswith(f"{BASE}/u/") for h in links(first))
    assert any(h.startswith(f"{BASE}/p/") for h in links(first))
    msg = next(r.message for r in smtp_server.received if r.rcpt_tos[0] == READERS[0])
    assert "/r/" not in msg["List-Unsubscribe"] and f"<{BASE}/u/" in msg["List-Unsubscribe"]
    assert article_url(1) in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    link = tracked_link_to(first, article_url(1))
    clock.advance(minutes=12)  # a person reads later
    async with serve(svc) as app, httpx.AsyncClient(base_url=app) as client:
        reply = await client.get(local(link), headers={"User-Agent": CHROME})
        assert reply.status_code == 302 and reply.headers["location"] == article_url(1)
        assert reply.headers["cache-control"] == "no-store"
        again = await client.get(local(link), headers={"User-Agent": CHROME})
        assert again.status_code == 302
    assert await counts(svc) == {(edition.id, await article_id(svc, 1), "click", "reader"): 2}
    assert await reader_events(svc) == []  # aggregate: nobody is named


async def test_machines_are_counted_apart(start: Any, cleanup: None, clock: Clock, smtp_server: SMTPServer) -> None:
    svc = await start()
    edition = await send_digest(svc, clock)
    link = local(tracked_link_to(html_of(smtp_server, READERS[0]), article_url(2)))
    async with serve(svc) as app, httpx.AsyncClient(base_url=app) as client:
        clock.advance(seconds=1)  # a scanner, as the message arrives
        assert (await client.get(link, headers={"User-Agent": CHROME})).status_code == 302
        clock.advance(minutes=30)
        assert (await client.head(link, headers={"User-Agent": CHROME})).status_code == 302
        assert (await client.get(link, headers={"User-Agent": "python-requests/2.32"})).status_code == 302
        assert (await client.get(link, headers={"User-Agent": CHROME})).status_code == 302
    article = await article_id(svc, 2)
    assert await counts(svc) == {(edition.id, article, "click", "machine"): 3, (edition.id, article, "click", "reader"): 1}


@pytest.mark.parametrize("tamper", ["another target", "no target", "cut token", "forged token", "open-pixel token"])
async def test_a_tampered_link_gets_an_arabic_page_and_no_redirect(
    start: Any, cleanup: None, clock: Clock, smtp_server: SMTPServer, tamper: str
) -> None:
    svc = await start()
    await send_digest(svc, clock, readers=READERS[:1])
    link = tracked_link_to(html_of(smtp_server, READERS[0]), article_url(1))
    path, query = local(link).split("?", 1)
    token = path.removeprefix("/r/")
    evil = quote("https://evil.example.net/login", safe="")
    url = {
        "another target": f"{path}?u={evil}",
        "no target": path,
        "cut token": f"/r/{token[:-3]}?{query}",
        "forged token": f"/r/7.1.1800000000.AAAAAAAAAAAAAAAA.{'A' * 26}?u={evil}",
        "open-pixel token": f"/r/{svc.settings.keyring.sign('open', token.split('.')[0] + '.1')}?{query}",
    }[tamper]
    clock.advance(minutes=5)
    async with serve(svc) as app, httpx.AsyncClient(base_url=app) as client:
        reply = await client.get(url, headers={"User-Agent": CHROME})
    assert reply.status_code == 400 and "location" not in reply.headers
    assert '<html dir="rtl" lang="ar">' in reply.text and "هذا الرابط غير صالح" in reply.text
    assert "evil.example.net" not in reply.text
    assert await counts(svc) == {}


async def test_per_reader_names_who_clicked_and_the_preferences_page_says_so(
    start: Any, cleanup: None, clock: Clock, smtp_server: SMTPServer
) -> None:
    svc = await start(tracking="per_reader")
    edition = await send_digest(svc, clock)
    first, second = (html_of(smtp_server, to) for to in READERS)
    link_1, link_2 = (tracked_link_to(h, article_url(3)) for h in (first, second))
    assert link_1 != link_2  # each carries its reader's token
    clock.advance(minutes=3)
    async with serve(svc) as app, httpx.AsyncClient(base_url=app) as client:
        assert (await client.get(local(link_2), headers={"User-Agent": CHROME})).status_code == 302
        pref = next(h for h in links(second) if h.startswith(f"{BASE}/p/"))
        page = await client.get(local(pref))
    assert page.status_code == 200 and 'id="tracking-per-reader"' in page.text
    assert "باسم اشتراكك" in page.text
    async with svc.db.transaction() as session:
        second_id = await session.scalar(select(Subscriber.id).where(Subscriber.email == READERS[1]))
    article = await article_id(svc, 3)
    assert await reader_events(svc) == [(edition.id, article, second_id, "click", "reader")]
    assert await counts(svc) == {(edition.id, article, "click", "reader"): 1}
    async with svc.db.transaction() as session:  # forgetting a reader forgets what they clicked
        await flows.forget(session, READERS[1], erase=outbox.erase)
    assert await reader_events(svc) == []
    assert await counts(svc) == {(edition.id, article, "click", "reader"): 1}


async def test_aggregate_preferences_page_says_nobody_is_named(
    start: Any, cleanup: None, clock: Clock, smtp_server: SMTPServer
) -> None:
    svc = await start()
    await send_digest(svc, clock, readers=READERS[:1])
    pref = next(h for h in links(html_of(smtp_server, READERS[0])) if h.startswith(f"{BASE}/p/"))
    async with serve(svc) as app, httpx.AsyncClient(base_url=app) as client:
        page = await client.get(local(pref))
    assert 'id="tracking-aggregate"' in page.text and "دون أن نسجّل من نقر" in page.text


async def test_tracking_off_leaves_every_link_as_it_was(
    start: Any, cleanup: None, clock: Clock, smtp_server: SMTPServer
) -> None:
    svc = await start(tracking="off", track_opens=True)
    await send_digest(svc, clock, readers=READERS[:1])
    html = html_of(smtp_server, READERS[0])
    assert not [h for h in links(html) if "/r/" in h] and "/o/" not in html
    for n in (1, 2, 3):
        assert f'href="{article_url(n)}"' in html


async def test_the_open_pixel_answers_a_gif_that_is_never_cached_and_counts_apple_apart(
    start: Any, cleanup: None, clock: Clock, smtp_server: SMTPServer
) -> None:
    svc = await start(track_opens=True)
    edition = await send_digest(svc, clock, readers=READERS[:1])
    html = html_of(smtp_server, READERS[0])
    pixel = re.findall(r'<img src="([^"]*/o/[^"]*)"', html)
    assert len(pixel) == 1
    clock.advance(minutes=20)
    async with serve(svc) as app, httpx.AsyncClient(base_url=app) as client:
        apple = await client.get(local(pixel[0]), headers={"User-Agent": "Mozilla/5.0"})
        person = await client.get(local(pixel[0]), headers={"User-Agent": CHROME})
        forged = await client.get("/o/1.1.AAAAAAAAAAAAAAAAAAAAAAAAAA", headers={"User-Agent": CHROME})
    for reply in (apple, person, forged):
        assert reply.status_code == 200 and reply.headers["content-type"] == "image/gif"
        assert reply.content.startswith(b"GIF89a") and "no-store" in reply.headers["cache-control"]
    assert await counts(svc) == {(edition.id, 0, "open", "machine"): 1, (edition.id, 0, "open", "reader"): 1}


async def test_compose_once_holds_with_per_reader_links_and_the_pixel(
    start: Any, cleanup: None, clock: Clock, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = premailer_threads(monkeypatch)
    svc = await start(tracking="per_reader", track_opens=True)
    readers = tuple(f"reader{n}@example.org" for n in range(6))
    await send_digest(svc, clock, readers=readers)
    assert len(runs) == 1  # one variant, one premailer run, six recipients
    pixels = {tuple(re.findall(r'<img src="([^"]*/o/[^"]*)"', html_of(smtp_server, to))) for to in readers}
    assert len(pixels) == 6  # each with its own reader token, filled in by the per-recipient slots


async def test_the_redirect_is_one_statement(start: Any, cleanup: None, clock: Clock, smtp_server: SMTPServer) -> None:
    """Nothing but one upsert per click in the default mode: statements counted on the engine."""
    from sqlalchemy import event

    svc = await start()
    await send_digest(svc, clock, readers=READERS[:1])
    link = local(tracked_link_to(html_of(smtp_server, READERS[0]), article_url(1)))
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # the service's own background work (its leader's advisory lock) may run meanwhile
        if "pg_advisory" in statement:
            return
        if statement.split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            statements.append(statement)

    event.listen(svc.db.engine.sync_engine, "before_cursor_execute", seen)
    clock.advance(minutes=5)
    try:
        async with serve(svc) as app, httpx.AsyncClient(base_url=app) as client:
            statements.clear()
            assert (await client.get(link, headers={"User-Agent": CHROME})).status_code == 302
    finally:
        event.remove(svc.db.engine.sync_engine, "before_cursor_execute", seen)
    assert len(statements) == 1 and statements[0].upper().startswith("INSERT INTO TRACKING_COUNTS")
    async with svc.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(TrackingCount)) == 1
