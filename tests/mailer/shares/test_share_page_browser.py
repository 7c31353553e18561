"""The share page in a real browser with JavaScript switched off: it reads right-to-left, hides
the honeypot, sends the form and shows a refusal with the reader's input kept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.mailer.shares.conftest import Harness

ShareApp = Callable[..., Awaitable[Harness]]
pytestmark = pytest.mark.browser


@pytest.fixture
async def page_without_js(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(java_script_enabled=False, locale="ar")
    yield await context.new_page()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the page does not depend on it
async def test_share_page_works_without_javascript(share_app: ShareApp, page_without_js, database_url: str) -> None:
    page = page_without_js
    h = await share_app()
    article_id = await h.article()

    await page.goto(h.url + h.form_path(article_id))
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    assert await page.evaluate("getComputedStyle(document.querySelector('form')).direction") == "rtl"
    assert await page.evaluate("getComputedStyle(document.querySelector('#friend_email')).direction") == "ltr"
    # the honeypot is clipped away: nothing of it can be seen or clicked
    hit = await page.evaluate("""() => {
        const r = document.querySelector('#website').getBoundingClientRect();
        const e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        return e === null ? null : e.id || e.tagName; }""")
    assert hit != "website"
    assert await page.get_attribute("#website", "tabindex") == "-1"

    # a refusal comes back as the form, filled in as sent, with the reason on top
    await page.fill("#friend_email", "friend@example.org")
    await page.fill("#sender_name", "سارة evil.example")
    h.clock.advance(seconds=5)
    async with page.expect_navigation() as refused:
        await page.click("button[type=submit]")
    assert (await refused.value).status == 400
    assert "لا يقبل الاسم الروابط" in await page.inner_text("[role=alert]")
    assert await page.input_value("#friend_email") == "friend@example.org"

    await page.fill("#sender_name", "سارة")
    async with page.expect_navigation() as sent:
        await page.click("button[type=submit]")
    assert (await sent.value).status == 202
    assert "أرسلنا الخبر إلى صديقك" in await page.inner_text("main")
    received = await h.deliver()
    assert [r.rcpt_tos for r in received] == [("friend@example.org",)]
    assert "أرسل إليك سارة هذا الخبر" in received[0].message.get_body(("plain",)).get_content()
