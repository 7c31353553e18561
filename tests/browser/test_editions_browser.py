"""The editor pages in a real browser where an article could reach a reader twice: a held
edition whose articles went out later says so and sends only the rest; the list of editions
counts every row status on its own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mailer.delivery.service import Service
from tests.browser.conftest import artifact
from tests.browser.test_editor_preview import frame, sign_in
from tests.conftest import Clock
from tests.mailer.editions.test_once_per_list import FIRE, publish, title, titles_received
from tests.support import factories
from tests.support.smtpd import SMTPServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_a_held_edition_shows_what_went_out_since_and_sends_only_the_rest(
    service: Service, clock: Clock, live_app: str, browser: Any, smtp_server: SMTPServer
) -> None:
    await publish(service, 1, FIRE - timedelta(hours=2))
    await publish(service, 2, FIRE + timedelta(hours=1))
    await factories.subscriber(service, "reader@example.org")
    await factories.subscriber(service, "quiet@example.org", status="paused")
    await factories.editor(service)
    clock.now = FIRE + timedelta(hours=3)  # the service was down at the fire: held
    held = await service.run_list("daily", FIRE)
    assert held.action == "held" and held.edition is not None
    clock.now = FIRE + timedelta(days=1)
    later = await service.run_list("daily", clock.now)  # the next day's carries article 2
    assert later.edition is not None
    await service.sender.drain()
    assert titles_received(smtp_server) == [("reader@example.org", [2])]

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, live_app, "/editor")
    row = page.locator(f"#editions tr[data-edition='{later.edition.id}']")
    counts = {s: await row.locator(f"td[data-count='{s}']").inner_text()
              for s in ("sent", "skipped", "failed", "unknown", "pending", "dead")}
    assert counts == {"sent": "1", "skipped": "0", "failed": "0", "unknown": "0", "pending": "0", "dead": "0"}
    headers = await page.locator("#editions th").all_inner_texts()
    assert headers[4:10] == ["أُرسلت", "تُخطّيت", "فشلت", "مجهولة المصير", "تنتظر", "أُسقطت"]

    async with page.expect_navigation():
        await page.click(f"#upcoming a[href='/editor/preview/edition?ref={held.edition.id}']")
    notice = await page.text_content("#sent-elsewhere")
    assert notice is not None and "أُرسلت في أعداد أخرى" in notice and "ما لم يصلهم" in notice
    assert [t.strip() for t in await page.locator("#articles li .title").all_inner_texts()] == [title(1)]
    elsewhere = page.locator("#sent-in-other-editions li")
    assert await elsewhere.count() == 1 and title(2) in await elsewhere.inner_text()
    assert await elsewhere.get_attribute("data-sent-in") == str(later.edition.id)
    for frame_id in ("frame-desktop", "frame-phone"):
        html = await (await frame(page, frame_id)).content()
        assert title(1) in html and title(2) not in html  # the preview is what would go out
    await page.screenshot(path=artifact("held-edition-sent-elsewhere.png"), full_page=True)

    send = page.locator("form[action$='/send'] button")
    await send.scroll_into_view_if_needed()
    async with page.expect_navigation():
        await send.click()
    assert await page.get_attribute("#status", "data-status") == "sending"
    await service.sender.drain()
    assert titles_received(smtp_server) == [("reader@example.org", [2]), ("reader@example.org", [1])]
