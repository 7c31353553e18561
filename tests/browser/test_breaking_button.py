"""An editor marks an article as breaking news in Chromium: from the editors' home to the alert's
preview (the e-mail right-to-left in its frame), the button, the notice, the mail at the SMTP
server; the home then shows the article as sent, with no second button."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mailer.core.settings import Settings
from mailer.delivery.service import Service
from tests.browser.conftest import artifact
from tests.browser.test_editor_preview import frame, sign_in
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer) -> Settings:
    return make_settings(database_url=database_url, smtp_url=smtp_server.url, lists={
        "daily": {"name": "النشرة اليومية", "schedule": "0 7 * * *"},
        "breaking": {"name": "الأخبار العاجلة", "schedule": "immediate"},
    })


async def test_an_editor_sends_breaking_news_from_the_alert_preview(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str, browser: Any
) -> None:
    await factories.editor(service)
    await factories.subscriber(service, "reader@example.org", lists=("daily", "breaking"))
    [article_id, _] = (await factories.ingest_items(service, 2, clock.now)).ids
    page = await browser.new_page(locale="ar", viewport={"width": 1400, "height": 1000})
    await sign_in(page, live_app, "/editor")
    await page.click(f"a[href='/editor/preview/alert?ref={article_id}']")
    await page.wait_for_selector("#send-breaking")
    email = await frame(page, "frame-desktop")
    assert await email.evaluate("() => document.documentElement.getAttribute('dir')") == "rtl"
    assert "عاجل" in await email.inner_text(".breaking-label")
    await page.screenshot(path=artifact("alert-preview.png"), full_page=True)

    async with page.expect_navigation():
        await page.click("#send-breaking")
    assert "أُرسل التنبيه العاجل الآن" in await page.inner_text("#alerted")
    await service.sender.drain()
    [mail] = smtp_server.received
    assert list(mail.rcpt_tos) == ["reader@example.org"] and mail.message["Subject"].startswith("عاجل: ")

    await page.goto(live_app + "/editor")
    row = page.locator("#recent-articles li", has_text=f"#{article_id}")
    assert await row.locator(".breaking-sent").count() == 1
    assert await row.locator("form.breaking-form").count() == 0
    await page.close()
