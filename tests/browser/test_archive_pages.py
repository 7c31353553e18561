"""The digests' public pages in Chromium: the archive and a web version read right to left, in
Arabic, with the edition's articles and no personal part."""

from __future__ import annotations

from typing import Any

import pytest

from mailer.delivery.service import Service
from tests.browser.conftest import artifact
from tests.conftest import Clock
from tests.support import factories
from tests.support.images import serve_images

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_archive_and_web_version_in_the_browser(
    service: Service, clock: Clock, live_app: str, browser: Any
) -> None:
    await factories.ingest_items(service, 4, clock.now)
    await factories.subscriber(service, "reader@example.org", name="سارة")
    edition = (await service.run_list("daily", clock.now)).edition
    await service.sender.drain()

    page = await browser.new_page(viewport={"width": 375, "height": 800})
    await serve_images(page)
    await page.goto(f"{live_app}/archive")
    await page.click("text=النشرة اليومية")
    assert page.url == f"{live_app}/archive/daily"
    assert await page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert await page.title() == "الأعداد السابقة من النشرة اليومية - أخبار الموقع"
    await page.screenshot(path=str(artifact("archive-375.png")), full_page=True)
    links = await page.eval_on_selector_all("ol.editions a", "els => els.map(a => [a.textContent, a.getAttribute('href')])")
    assert links == [["عنوان الخبر رقم 1 عن العراق", f"{service.settings.base_url}/archive/daily/{edition.id}"]]

    await page.goto(f"{live_app}/archive/daily/{edition.id}")
    await page.screenshot(path=str(artifact("web-version-375.png")), full_page=True)
    assert await page.evaluate("getComputedStyle(document.querySelector('.container')).direction") == "rtl"
    text = await page.evaluate("document.body.innerText")
    assert all(f"عنوان الخبر رقم {n} عن العراق" in text for n in range(1, 5))
    assert "سارة" not in text and "إلغاء الاشتراك" not in text and "هذه نسخة الويب" in text
    await page.close()
