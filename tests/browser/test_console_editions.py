"""The editions pages in Chromium, at 1280 and 375 px: every edition a page at a time with human
names and Arabic statuses; an edition's live progress (a meta refresh, no script), what it
caused and its articles by clicks; pause and resume. And the whole loop: a digest sent to the
in-process SMTP server, a tracked link in it followed by the browser through the real app, the
click counted on the edition's page. Screenshots go to tests/screenshots/console/."""

from __future__ import annotations

import contextlib
import re
import shutil
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Error as PlaywrightError
from sqlalchemy import select

from mailer.core.models import Article, Edition
from mailer.delivery.service import Service
from mailer.editor import editions as edition_pages
from tests.browser.conftest import SCREENSHOTS, artifact
from tests.browser.test_editor_preview import sign_in
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BASE = "https://news.example.com"
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
          "Safari/537.36")  # a person's browser; Playwright's own says HeadlessChrome, a machine
WIDTHS = (1280, 375)
SPAM = "550 5.7.1 Message rejected: our content filter thinks it is spam"
LATIN = re.compile(r"[A-Za-z]")
COUNTED = ("sent", "skipped", "failed", "unknown", "pending", "dead")


def shot(name: str) -> str:
    """Keep a screenshot as an artifact and as the README's copy."""
    path = artifact(f"console-{name}")
    (SCREENSHOTS / "console").mkdir(parents=True, exist_ok=True)
    return str(path)


def publish_shot(name: str) -> None:
    shutil.copyfile(artifact(f"console-{name}"), SCREENSHOTS / "console" / name)


async def new_page(browser: Any, width: int) -> Any:
    context = await browser.new_context(viewport={"width": width, "height": 900}, user_agent=CHROME)
    return await context.new_page()


async def fits(page: Any, width: int) -> None:
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide at {width} px"


async def main_text(page: Any) -> str:
    return str(await page.inner_text("main"))


async def figures(page: Any, selector: str) -> dict[str, str]:
    out = {}
    for item in await page.locator(selector).all():
        key = await item.get_attribute("data-count")
        out[key] = (await item.locator(".n").inner_text()).strip()
    return out


async def test_a_tracked_link_followed_in_the_browser_is_counted_on_the_edition_page(
    service: Service, clock: Clock, live_app: str, browser: Any, smtp_server: SMTPServer
) -> None:
    await factories.ingest_items(service, 3, clock.now)
    for address in ("first@example.org", "second@example.org"):
        await factories.subscriber(service, address)
    await factories.editor(service)
    result = await service.run_list("daily", clock.now)
    assert result.edition is not None
    edition_id = result.edition.id
    assert await service.sender.drain() == {"sent": 2}
    async with service.db.transaction() as session:
        article = (await session.scalars(select(Article).where(Article.url == f"{BASE}/news/2"))).one()

    msg = next(r.message for r in smtp_server.received if r.rcpt_tos[0] == "first@example.org")
    html = msg.get_body(("html",)).get_content()
    link = next(h.replace("&amp;", "&") for h in re.findall(r'href="([^"]*)"', html)
                if "/r/" in h and parse_qs(urlsplit(h.replace("&amp;", "&")).query)["u"] == [article.url])

    clock.advance(minutes=15)  # read a while after it arrived
    for width in WIDTHS:
        page = await new_page(browser, width)
        # the mail's link, asked of the app under test (served on a loopback port, not the public
        # name); the site itself is not reachable from here: the browser is seen setting off for it
        tracked = live_app + link.removeprefix(BASE)
        async with page.expect_request(article.url) as asked:
            with contextlib.suppress(PlaywrightError):
                await page.goto(tracked)
        request = await asked.value
        assert request.redirected_from is not None and request.redirected_from.url == tracked
        response = await request.redirected_from.response()
        assert response.status == 302 and response.headers["location"] == article.url
        await page.context.close()

    for width in WIDTHS:
        page = await new_page(browser, width)
        await sign_in(page, live_app, f"/editor/editions/{edition_id}")
        row = page.locator(f"#top-articles tr[data-article='{article.id}']")
        assert await row.locator("td[data-clicks='readers']").inner_text() == "2"
        assert await row.locator("td[data-clicks='machines']").inner_text() == "0"
        assert article.title in await row.inner_text()
        assert (await page.locator("#clicks li[data-clicks='readers'] .n").inner_text()) == "2"
        counted = await figures(page, "#counts li")
        assert counted == {"sent": "2", "skipped": "0", "failed": "0", "unknown": "0", "pending": "0", "dead": "0"}
        assert await page.locator("meta[http-equiv='refresh']").count() == 0  # sent: nothing to watch
        assert await page.text_content("#status") == "أُرسل"
        text = await main_text(page)
        assert not LATIN.search(text), text  # no English, no internal keys
        assert "النشرة اليومية — الأربعاء 25 نوفمبر" in await page.inner_text("#edition-name")
        await fits(page, width)
        await page.screenshot(path=shot(f"edition-{width}.png"), full_page=True)
        publish_shot(f"edition-{width}.png")
        await page.context.close()


async def test_the_editions_list_pages_by_keyset_with_human_names(
    service: Service, clock: Clock, live_app: str, browser: Any
) -> None:
    await factories.editor(service)
    async with service.db.transaction() as session:
        for n in range(edition_pages.PAGE_SIZE + 4):
            at = clock.now - timedelta(days=n)
            local = at.astimezone(service.settings.tz)
            session.add(Edition(list_name="daily", period_key=local.strftime("%Y-%m-%dT%H:%M"), scheduled_at=at,
                                status="empty" if n % 3 else "held", created_at=at,
                                status_reason="no new articles" if n % 3 else
                                "scheduled 3 h 0 min ago, more than the 120 min allowed: waiting for an editor"))
        session.add(Edition(list_name="daily", period_key="now-2026-11-25T07:10:00.000",
                            scheduled_at=clock.now + timedelta(minutes=10), status="superseded",
                            status_reason="its articles went out in edition 3, 4", created_at=clock.now))
    for width in WIDTHS:
        page = await new_page(browser, width)
        await sign_in(page, live_app, "/editor/editions")
        rows = page.locator("#editions tr[data-edition]")
        assert await rows.count() == edition_pages.PAGE_SIZE
        newest = await rows.first.inner_text()
        assert "النشرة اليومية — الأربعاء 25 نوفمبر، إرسال فوري الساعة 07:10" in newest
        assert "أُرسلت أخباره في العدد 3، 4." in newest and "أُرسلت أخباره في أعداد أخرى" in newest
        text = await main_text(page)
        assert not LATIN.search(text), text
        assert "تأخّر" in text or "فات موعده" in text
        headers = await page.locator("#editions th").all_inner_texts()
        assert headers[3:] == ["أُرسلت", "تُخطّيت", "فشلت", "مجهولة المصير", "تنتظر", "أُسقطت"]
        await fits(page, width)
        await page.screenshot(path=shot(f"editions-{width}.png"), full_page=True)
        publish_shot(f"editions-{width}.png")
        async with page.expect_navigation():
            await page.click("#older")
        assert await page.locator("#editions tr[data-edition]").count() == 5
        assert await page.locator("#older").count() == 0 and await page.locator("#first-page").count() == 1
        async with page.expect_navigation():
            await page.click("#editions tr[data-edition] a.edition-name >> nth=0")
        assert re.search(r"/editor/editions/\d+$", page.url)
        await page.context.close()

    page = await new_page(browser, 1280)  # the editor home names periods and reasons alike
    await sign_in(page, live_app, "/editor")
    home = await page.inner_text("#editions")
    assert "now-" not in home and "T07:00" not in home and "no new articles" not in home
    assert "النشرة اليومية — الأربعاء 25 نوفمبر" in home
    held = await page.inner_text("#upcoming")
    assert "waiting for an editor" not in held and "فات موعده" in held
    assert not LATIN.search(home) and not LATIN.search(held), (home, held)  # "(توقيت العراق)", not "Asia/Baghdad"
    assert "توقيت العراق" in held
    await page.context.close()


async def test_pause_and_resume_while_sending_and_after_the_breaker(
    service: Service, clock: Clock, live_app: str, browser: Any, smtp_server: SMTPServer
) -> None:
    await factories.ingest_items(service, 2, clock.now)
    for n in range(12):
        await factories.subscriber(service, f"reader{n:02d}@example.org")
    await factories.editor(service)
    result = await service.run_list("daily", clock.now)
    assert result.action == "sending" and result.edition is not None
    edition_id = result.edition.id
    path = f"/editor/editions/{edition_id}"

    page = await new_page(browser, 1280)
    await sign_in(page, live_app, path)
    assert await page.get_attribute("meta[http-equiv='refresh']", "content") == "5"  # live, no script
    assert await page.text_content("#status") == "قيد الإرسال"
    assert (await figures(page, "#counts li"))["pending"] == "12"
    assert await page.get_attribute("#progress", "value") == "0"
    await page.screenshot(path=shot("edition-sending-1280.png"), full_page=True)
    publish_shot("edition-sending-1280.png")
    async with page.expect_navigation():
        await page.click("#pause")
    assert await page.text_content("#status") == "متوقف مؤقتاً"
    assert "أوقف المحرر" in await page.inner_text("#reason")
    assert await page.locator("meta[http-equiv='refresh']").count() == 0
    assert await service.sender.drain() == {}  # paused: no worker claims its rows
    assert smtp_server.received == []
    async with page.expect_navigation():
        await page.click("#resume")
    assert await page.text_content("#changed") == "استُؤنف إرسال العدد."
    assert await page.text_content("#status") == "قيد الإرسال"

    # the relay's filter refuses the message itself: the breaker pauses it, the page says why
    smtp_server.fail("data", *[SPAM] * 12)
    await service.sender.drain()
    page_375 = await new_page(browser, 375)
    await sign_in(page_375, live_app, path)
    assert await page_375.text_content("#status") == "متوقف مؤقتاً"
    reason = await page_375.inner_text("#reason")
    assert "رفض خادم البريد الرسالة نفسها" in reason and "550" in reason and "5.7.1" not in reason
    assert not LATIN.search(await main_text(page_375))
    await fits(page_375, 375)
    await page_375.screenshot(path=shot("edition-paused-375.png"), full_page=True)
    publish_shot("edition-paused-375.png")
    with smtp_server.handler.lock:
        smtp_server.handler.script.data.clear()  # the cause is fixed
    async with page_375.expect_navigation():
        await page_375.click("#resume")
    assert await page_375.text_content("#status") == "قيد الإرسال"
    clock.advance(hours=1)
    totals = await service.sender.drain()
    assert totals.get("sent") == 12
    await page_375.reload()
    assert await page_375.text_content("#status") == "أُرسل"
    assert (await figures(page_375, "#counts li"))["sent"] == "12"
    assert await page_375.get_attribute("#progress", "value") == "100"
    await page_375.context.close()
    await page.context.close()
