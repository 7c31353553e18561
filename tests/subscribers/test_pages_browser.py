"""The public subscriber pages in a real browser (Debian's chromium): right-to-left, and the
subscribe, confirm and preferences forms work by clicking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mailer.delivery.service import Service
from tests.conftest import Clock
from tests.subscribers.helpers import link, status_of
from tests.support import factories
from tests.support.smtpd import SMTPServer

pytestmark = pytest.mark.browser


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    yield await browser.new_page(locale="ar")


async def direction(page: Any, selector: str) -> str:
    return str(await page.eval_on_selector(selector, "e => getComputedStyle(e).direction"))


async def test_subscribe_confirm_and_pause_by_clicking(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str, page: Any
) -> None:
    await factories.ingest_items(service, 1, clock.now, section="سياسة")
    await page.goto(f"{live_app}/subscribe")
    assert await page.get_attribute("html", "dir") == "rtl" and await page.get_attribute("html", "lang") == "ar"
    for selector in ("body", "form", "label[for=name]"):
        assert await direction(page, selector) == "rtl"
    assert await page.eval_on_selector("p", "e => getComputedStyle(e).textAlign") in ("right", "start")
    await page.fill("#email", "clicker@example.org")
    await page.fill("#name", "نور")
    assert await page.is_checked("input[name=lists][value=daily]")  # the first list, offered checked
    await page.uncheck("input[name=lists][value=daily]")
    await page.check("input[name=lists][value=weekly]")
    await page.check("input[name=sections]")
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    assert "رابط لتأكيد" in await page.inner_text("main")
    assert await status_of(service, "clicker@example.org") == "pending"

    await service.sender.drain()
    await page.goto(live_app + link(smtp_server.received[0], "/c/"))
    assert await status_of(service, "clicker@example.org") == "pending"
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    assert "تم التأكيد" in await page.inner_text("h1")
    assert await status_of(service, "clicker@example.org") == "confirmed"

    await page.click("a[href^='/p/']")
    await page.wait_for_load_state()
    assert await page.is_checked("input[name=lists][value=weekly]")
    assert not await page.is_checked("input[name=lists][value=daily]")
    assert await page.is_checked("input[name=sections]")
    assert await page.input_value("#name") == "نور"
    await page.click("button[value=pause]")
    await page.wait_for_load_state()
    assert "إيقاف النشرة مؤقتاً" in await page.inner_text(".note")
    assert await status_of(service, "clicker@example.org") == "paused"
