"""The editor's preview in a real browser: sign in, the next digest at desktop and phone width,
right-to-left layout measured in the frames, a test send that reaches a real SMTP server, and
drop / reorder / hold / send-now through the page's own forms."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from mailer.core.models import OutboxMessage
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.editor.previews import TEST_HEADER
from tests.browser.conftest import SCREENSHOTS, artifact
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIRE = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 07:00 in Baghdad: the daily cron
EDITOR_EMAIL = "sara@news.example.com"
TITLES = [f"عنوان الخبر رقم {n} عن العراق" for n in range(1, 5)]

# Runs inside each e-mail frame: where the lead headline sits in its column, and whether
# anything sticks out sideways.
MEASURE = """() => {
  const link = document.querySelector('.lead-title a');
  const cell = link.closest('td');
  const style = getComputedStyle(cell);
  const r = link.getBoundingClientRect(), c = cell.getBoundingClientRect();
  const container = document.querySelector('table.container').getBoundingClientRect();
  const rects = [...document.body.querySelectorAll('*')].map(e => e.getBoundingClientRect())
                  .filter(b => b.width > 0 && b.height > 0);
  return {
    dir: document.documentElement.getAttribute('dir'),
    lang: document.documentElement.getAttribute('lang'),
    headline: link.textContent.trim(),
    headlineRight: r.right, headlineLeft: r.left,
    columnRight: c.right - parseFloat(style.paddingRight) - parseFloat(style.borderRightWidth),
    columnLeft: c.left + parseFloat(style.paddingLeft) + parseFloat(style.borderLeftWidth),
    containerWidth: container.width,
    viewport: document.documentElement.clientWidth,
    scrollWidth: document.documentElement.scrollWidth,
    rightmost: Math.max(...rects.map(b => b.right)),
    leftmost: Math.min(...rects.map(b => b.left)),
    headlines: [...document.querySelectorAll('.lead-title a, .item-title a')].map(a => a.textContent.trim()),
  };
}"""


async def seed(service: Service, clock: Clock) -> None:
    clock.now = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 04:00 in Baghdad: three hours to go
    await factories.ingest_items(service, 4, clock.now)
    await factories.subscriber(service, "first@example.org", name="أحمد")
    await factories.subscriber(service, "second@example.net")
    await factories.subscriber(service, "pending@example.com", status="pending")
    await factories.editor(service, "sara", EDITOR_EMAIL)


async def sign_in(page: Any, base: str, path: str) -> None:
    await page.goto(base + path)
    assert "/editor/login" in page.url  # not signed in yet: sent to the login page
    await page.fill("#name", "sara")
    await page.fill("#password", factories.EDITOR_PASSWORD)
    async with page.expect_navigation():
        await page.click("main button[type=submit]")
    assert page.url == base + path


async def frame(page: Any, element_id: str) -> Any:
    handle = await page.query_selector(f"#{element_id}")
    content = await handle.content_frame()
    await content.wait_for_load_state("load")
    return content


async def test_upcoming_digest_as_readers_will_see_it(
    service: Service, clock: Clock, live_app: str, browser: Any, smtp_server: SMTPServer
) -> None:
    await seed(service, clock)
    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await sign_in(page, live_app, "/editor/preview/digest?ref=daily")
    assert await page.evaluate("[document.documentElement.dir, document.documentElement.lang]") == ["rtl", "ar"]

    measured = {}
    for element_id, width in (("frame-desktop", 640), ("frame-phone", 375)):
        m = await (await frame(page, element_id)).evaluate(MEASURE)
        measured[width] = m
        assert (m["dir"], m["lang"]) == ("rtl", "ar")
        assert m["viewport"] == width
        assert m["headline"] == TITLES[0] and m["headlines"] == TITLES
        # right-aligned: the headline ends at the right edge of its column, the free space is left
        assert abs(m["headlineRight"] - m["columnRight"]) <= 1, m
        assert m["headlineLeft"] > m["columnLeft"] + 20, m
    assert measured[640]["containerWidth"] == 600  # the desktop view is the full 600px layout
    phone = measured[375]
    assert phone["scrollWidth"] <= phone["viewport"], phone  # nothing overflows sideways
    assert phone["rightmost"] <= phone["viewport"] + 0.5 and phone["leftmost"] >= -0.5, phone

    await page.screenshot(path=artifact("digest-preview-page.png"), full_page=True)
    await page.screenshot(path=artifact("digest-preview.png"))
    await page.locator("#view-desktop").screenshot(path=artifact("digest-desktop-640.png"))
    await page.locator("#view-phone").screenshot(path=artifact("digest-phone-375.png"))
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copyfile(artifact("digest-preview.png"), SCREENSHOTS / "digest-preview.png")

    # the panel beside the message: recipients, time in the site's zone, articles with sections
    assert (await page.text_content("#recipients")).startswith("2 ")
    scheduled = await page.text_content("#scheduled")
    assert "07:00" in scheduled and "Asia/Baghdad" in scheduled and "نوفمبر" in scheduled
    rows = await page.locator("#articles li").all_inner_texts()
    assert [next(t for t in TITLES if t in row) for row in rows] == TITLES
    assert all("سياسة" in row for row in rows)
    headers = dict(zip(await page.locator("#headers th").all_inner_texts(),
                       await page.locator("#headers td").all_inner_texts(), strict=True))
    assert headers["From"] == "أخبار الموقع <newsletter@news.example.com>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<https://news.example.com/u/")
    text_part = await page.text_content("#text-part")
    assert all(t in text_part for t in TITLES)
    levels = {await li.get_attribute("data-check"): await li.get_attribute("data-level")
              for li in await page.query_selector_all("#checks li[data-check]")}
    assert levels["size"] == "ok" and levels["unsubscribe"] == "ok" and levels["https"] == "ok"
    assert levels["spam"] in ("ok", "warn", "error", "info")

    # "send a test to me": the exact message, through the normal transport, to a real server
    stop = asyncio.Event()
    sender = asyncio.create_task(service.sender_loop(stop, idle_seconds=0.2))
    try:
        async with page.expect_navigation():
            await page.click("#send-test")
        received = await asyncio.to_thread(smtp_server.wait_for, 1, 15.0)
    finally:
        stop.set()
        await sender
    assert len(received) == 1
    msg = received[0].message
    assert received[0].rcpt_tos == (EDITOR_EMAIL,)
    assert msg[TEST_HEADER] and msg["To"] == EDITOR_EMAIL
    assert msg["Subject"] == headers["Subject"] and msg["List-Id"] == headers["List-Id"]
    frame_html = await (await page.request.get(live_app + "/editor/preview/digest/frame?ref=daily")).text()
    assert msg.get_body(("html",)).get_content() == frame_html
    async with service.db.transaction() as session:
        assert await outbox.counts(session) == {}  # not an edition send
        kinds = (await session.scalars(select(OutboxMessage.kind))).all()
    assert kinds == ["test"]
    await page.reload()
    assert "سُلّمت" in await page.text_content("#test-status")
    assert dialogs == []


async def test_editor_drops_reorders_holds_and_sends(
    service: Service, clock: Clock, live_app: str, browser: Any, smtp_server: SMTPServer
) -> None:
    await seed(service, clock)
    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    await sign_in(page, live_app, "/editor/preview/digest?ref=daily")

    async def click(selector: str) -> None:
        async with page.expect_navigation():
            await page.click(selector)

    await click("#articles li:nth-child(2) form[action$='/exclude'] button")
    await click("#articles li:nth-child(3) form[action$='/up'] button")  # the 4th, now 3rd, goes up
    expected = [TITLES[0], TITLES[3], TITLES[2]]
    assert (await (await frame(page, "frame-desktop")).evaluate(MEASURE))["headlines"] == expected
    assert TITLES[1] in await page.text_content("#dropped")
    await click("form[action$='/hold'] button")
    assert await page.get_attribute("#status", "data-status") == "held"

    clock.now = FIRE  # the scheduler fires: a held edition does not go out
    assert (await service.run_list("daily", FIRE)).action == "exists"
    await service.sender.drain()
    assert smtp_server.received == []

    await page.goto(live_app + "/editor")  # held editions wait on the editors' home page
    await click("#upcoming a[href^='/editor/preview/edition']")
    await click("form[action$='/send'] button")  # the editor's go
    assert await page.get_attribute("#status", "data-status") == "sending"
    assert await service.sender.drain() == {"sent": 2}
    for r in smtp_server.received:
        html = r.message.get_body(("html",)).get_content()
        positions = [html.find(t) for t in expected]
        assert -1 not in positions and positions == sorted(positions)
        assert TITLES[1] not in html
