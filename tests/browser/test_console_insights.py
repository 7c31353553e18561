"""The console's deliverability page and dashboard in Chromium, at 1280 and 375 px, with and
without JavaScript: Arabic and RTL, the complaint warning, the suppression search, the log's
pages, the period choice, charts with their tables, nothing the CSP refuses, and no sideways
scrolling on a phone. The screenshots the README shows are written to tests/screenshots/console/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mailer.delivery.service import Service
from mailer.shares import records
from subscribers import bounces as scoring
from subscribers import history
from tests.browser.conftest import SCREENSHOTS, artifact
from tests.browser.test_editor_preview import sign_in
from tests.conftest import Clock
from tests.mailer.editor.test_console_stats import bulk_sent, complain, deliver
from tests.support import factories
from tests.support.smtpd import SMTPServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # noon in Baghdad
SHOTS = SCREENSHOTS / "console"
WIDTHS = (1280, 375)


async def seed(service: Service, clock: Clock) -> None:
    """Thirty days of a small newsroom: readers joining, daily sends, a few bounces and
    complaints (two yesterday, over 0.1 %), shares, and a log longer than one page."""
    n = 0
    for back in range(29, -1, -1):
        at = NOW - timedelta(days=back)
        clock.now = at
        for _ in range(1 + back % 3):
            n += 1
            await factories.subscriber(service, f"reader{n:03}@example.org",
                                       lists=("daily", "weekly") if n % 4 == 0 else ("daily",))
        async with service.db.transaction() as session:
            await history.record(session, service.settings.lists, at.astimezone(service.settings.tz).date(), at)
            for s in range(back % 5):
                await records.add(session, now=at, outcome="queued", article_id=s + 1)
        await bulk_sent(service, at, 400 + 10 * (29 - back))
        async with service.db.transaction() as session:
            for b in range(2):
                await scoring.record(session, service.settings, scoring.Target(f"gone{back:02}{b}@example.com"),
                                     "hard" if b else "soft", at, source="dsn",
                                     detail="550 5.1.1 <gone@example.com>: Recipient address rejected")
    subs = [await factories.subscriber(service, f"annoyed{i}@example.org") for i in range(3)]
    await complain(service, clock, NOW - timedelta(days=6), subs[0])
    for sub in subs[1:]:
        await complain(service, clock, NOW - timedelta(days=1), sub)  # 2 in 680: 0.29 %
    await factories.editor(service, role="admin")
    clock.now = NOW


async def no_sideways_scroll(page: Any) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths


def csp_watch(page: Any) -> list[str]:
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    return violations


async def test_deliverability_page(
    service: Service, clock: Clock, live_app: str, browser: Any, smtp_server: SMTPServer
) -> None:
    await seed(service, clock)
    await deliver(service, clock, NOW, ["friend@example.net"])  # one through the real sender too
    assert len(smtp_server.received) == 1
    for width in WIDTHS:
        context = await browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=width == 375)
        page = await context.new_page()
        violations = csp_watch(page)
        await sign_in(page, live_app, "/editor/deliverability")
        assert await page.evaluate("[document.documentElement.dir, document.documentElement.lang]") == ["rtl", "ar"]
        warning = page.locator("#complaint-warning")
        assert await warning.is_visible()
        text = await warning.inner_text()
        assert "0.29%" in text and "الاثنين، 30 نوفمبر 2026" in text and "0.1%" in text
        assert await warning.get_attribute("data-level") == "warn"
        assert await page.locator("#complaints svg.chart title").first.text_content() == "نسبة الشكاوى في اليوم"
        await no_sideways_scroll(page)
        await page.screenshot(path=SHOTS / f"deliverability-{width}.png", full_page=True)
        await page.click("#rates-table summary")
        row = page.locator("#rates-table tr[data-day='2026-11-30']")
        assert await row.locator("[data-col='complaint_rate']").inner_text() == "0.29%"
        assert await row.get_attribute("class") == "over"
        assert await page.locator("#events tr[data-event]").count() == 50
        await no_sideways_scroll(page)
        # the next page of the log, by keyset
        first_ids = await page.locator("#events tr[data-event]").evaluate_all("rows => rows.map(r => +r.dataset.event)")
        async with page.expect_navigation():
            await page.click("#events-older")
        older_ids = await page.locator("#events tr[data-event]").evaluate_all("rows => rows.map(r => +r.dataset.event)")
        assert older_ids and max(older_ids) < min(first_ids) and len(first_ids) + len(older_ids) == 60 + 3
        assert await page.locator("#events-newer").count() == 1
        # filter by kind
        await page.select_option("#kind", "complaint")
        async with page.expect_navigation():
            await page.click("#events button[type=submit]")
        kinds = await page.locator("#events tr[data-event]").evaluate_all("rows => rows.map(r => r.dataset.kind)")
        assert kinds == ["complaint"] * 3
        # the suppression list searched by the start of an address
        await page.fill("#q", "annoyed")
        async with page.expect_navigation():
            await page.click("#suppressions button[type=submit]")
        found = await page.locator("#suppressions tr.suppressed").all_inner_texts()
        assert len(found) == 3 and all("اشتكى من رسالة" in r for r in found)
        assert {r.split("\t")[0].strip() for r in found} == {f"annoyed{i}@example.org" for i in range(3)}
        await no_sideways_scroll(page)
        if width == 375:
            await page.screenshot(path=artifact("deliverability-search-375.png"), full_page=True)
        assert violations == []
        await context.close()


async def test_a_quiet_week_shows_no_warning_and_bad_input_is_named(
    service: Service, clock: Clock, live_app: str, browser: Any
) -> None:
    await factories.editor(service, role="admin")
    clock.now = NOW
    await bulk_sent(service, NOW - timedelta(days=1), 1000)
    sub = await factories.subscriber(service, "once@example.org")
    await complain(service, clock, NOW - timedelta(days=1), sub)  # 1 in 1000: exactly 0.1 %
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, live_app, "/editor/deliverability")
    assert await page.locator("#complaint-warning").count() == 0
    assert await page.locator("#complaint-ok").is_visible()
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=live_app, cookies=cookies) as client:
        for path, field in (("/editor/deliverability?kind=spam", "(kind)"), ("/editor/dashboard?days=7", "(days)"),
                            ("/editor/deliverability?before=0", None)):
            reply = await client.get(path)
            assert reply.status_code == 400, path
            assert 'dir="rtl"' in reply.text and (field is None or field in reply.text), reply.text


async def test_dashboard(service: Service, clock: Clock, live_app: str, browser: Any) -> None:
    await seed(service, clock)
    for width in WIDTHS:
        context = await browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=width == 1280)
        page = await context.new_page()
        violations = csp_watch(page)
        await sign_in(page, live_app, "/editor/dashboard")
        assert await page.evaluate("[document.documentElement.dir, document.documentElement.lang]") == ["rtl", "ar"]
        titles = await page.locator("svg.chart > title").all_text_contents()
        assert titles == ["المشتركون المؤكَّدون في كل نشرة", "الرسائل المسلَّمة في اليوم",
                          "نسب الارتداد والشكاوى وإلغاء الاشتراك", "المشاركات في اليوم"]
        legend = await page.locator("#chart-subscribers .legend text").all_text_contents()
        assert legend == ["النشرة اليومية", "النشرة الأسبوعية"]
        # 30 days of sends: a bar each; the subscriber lines have a point per recorded day
        assert await page.locator("#chart-sends g.series rect").count() == 30
        assert await page.locator("#chart-subscribers g.series circle").count() == 60
        await page.click("#subscribers summary")
        today = page.locator("#subscribers tr[data-day='2026-12-01'] td")
        assert await today.all_inner_texts() == ["الثلاثاء، 1 ديسمبر 2026", "60", "15"]  # 3 complainers left
        await page.click("#sends summary")
        assert (await page.locator("#sends tr[data-day='2026-11-02'] td").all_inner_texts())[1] == "400"
        await no_sideways_scroll(page)
        await page.screenshot(path=SHOTS / f"dashboard-{width}.png", full_page=True)
        async with page.expect_navigation():
            await page.click("a[href='/editor/dashboard?days=90']")
        assert await page.locator("#chart-sends g.series rect").count() == 30  # sends only in the last 30
        assert await page.locator("[aria-current=page]").inner_text() == "آخر 90 يوماً"
        rows = await page.locator("#sends tr[data-day]").count()
        assert rows == 90
        await no_sideways_scroll(page)
        assert violations == []
        await context.close()
