"""The console's people side in Chromium, at 1280 and 375 px: every page and action (search,
add, unsubscribe, suppress, forget with its confirmation step, CSV import with its self-refreshing
progress page and per-line report, export, audit log, editors' roles, settings, and the 403 an
editor gets), with
no script, no CSP violation and nothing wider than the screen. Screenshots go to
tests/screenshots/console/ (shown in the README's "Console" section)."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailer.delivery.service import Service
from mailer.editor import accounts
from subscribers import store
from tests.browser.conftest import SCREENSHOTS, artifact
from tests.conftest import Clock
from tests.support import factories

pytestmark = [pytest.mark.browser, pytest.mark.slow]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CONSOLE = SCREENSHOTS / "console"
CSV = ("email,name,lists\r\n"
       "huda@example.org,هدى,daily\r\n"
       "not-an-address,سطر خاطئ,daily\r\n"
       "karim@example.org,كريم,nosuchlist\r\n"
       "omar@example.org,عمر,daily|weekly\r\n")


async def shot(page: Any, name: str, width: int) -> None:
    """A full-page screenshot, kept for the README; the page must fit the screen's width."""
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} at {width} px is {overflow} px too wide"
    assert await page.get_attribute("html", "dir") == "rtl" and await page.get_attribute("html", "lang") == "ar"
    path = artifact(f"console-{name}-{width}.png")
    await page.screenshot(path=path, full_page=True)
    CONSOLE.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, CONSOLE / f"{name}-{width}.png")


async def sign_in_as(page: Any, base: str, name: str, path: str) -> None:
    await page.goto(base + path)
    await page.fill("#name", name)
    await page.fill("#password", factories.EDITOR_PASSWORD)
    async with page.expect_navigation():
        await page.click("main button[type=submit]")


async def click(page: Any, selector: str) -> None:
    async with page.expect_navigation():
        await page.click(selector)


@pytest.fixture
async def staff(service: Service, clock: Clock) -> None:
    clock.now = NOW
    await factories.editor(service, "sara")
    async with service.db.transaction() as session:
        await accounts.add(session, "hind", "hind@news.example.com", factories.EDITOR_PASSWORD, NOW, role="admin")
        for i in range(60):
            await store.add(session, f"reader{i:02d}@example.org", now=NOW, name="أحمد العبيدي" if i % 2 else "Sara",
                            status="confirmed" if i % 4 else "pending", lists=("daily",))


@pytest.mark.parametrize("width", [1280, 375])
async def test_the_subscribers_console_in_a_browser(
    staff: None, service: Service, live_app: str, browser: Any, width: int, tmp_path: Path
) -> None:
    context = await browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=False)
    page = await context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    await sign_in_as(page, live_app, "hind", "/editor/subscribers")
    assert page.url == live_app + "/editor/subscribers"
    assert await page.locator("#results tr[data-subscriber]").count() == 50
    assert await page.is_visible("nav a[href='/editor/settings']")
    await shot(page, "subscribers", width)

    # search by name, Arabic spelt without the hamza; then a next page by keyset
    await page.fill("#q", "احمد")
    await click(page, "#search button[type=submit]")
    assert await page.locator("#results tr[data-subscriber]").count() == 30
    await page.fill("#q", "reader")
    await page.select_option("#status", "confirmed")
    await click(page, "#search button[type=submit]")
    assert await page.locator("#results tr[data-subscriber]").count() == 45 - 0  # 45 confirmed of 60
    await shot(page, "search", width)

    # add a subscriber
    await page.fill("#add-email", "mona@example.org")
    await page.fill("#add-name", "منى")
    await page.check("#add input[name=lists][value=daily]")
    await click(page, "#add button[type=submit]")
    assert "/editor/subscribers/" in page.url and "done=added" in page.url
    assert (await page.text_content("#status")).strip() == "بانتظار التأكيد"
    await shot(page, "subscriber", width)

    # unsubscribe on their behalf, then suppress
    await click(page, "#unsubscribe")
    assert await page.get_attribute("#status", "data-status") == "unsubscribed"
    assert await page.get_attribute("#suppression", "data-reason") == "unsubscribe"
    await click(page, "#suppress")
    assert await page.get_attribute("#suppression", "data-reason") == "operator"
    assert await page.locator("#audit li").count() == 3
    await shot(page, "subscriber-after-actions", width)

    # forget, with its confirmation step
    await click(page, "#forget")
    assert "لا يمكن التراجع" in await page.inner_text("main")
    await shot(page, "forget-confirm", width)
    await click(page, "#confirm-forget")
    assert "/editor/audit" in page.url
    assert "mona@example.org" not in await page.content()
    assert [await r.get_attribute("data-action") for r in await page.locator("#entries tr[data-action]").all()] == [
        "forget", "suppress", "unsubscribe", "add"]
    await shot(page, "audit", width)

    # import a CSV: the progress page refreshes itself (no script) until the report is there
    await page.goto(live_app + "/editor/subscribers/import")
    csv_path = tmp_path / "قائمة.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    await page.set_input_files("#file", str(csv_path))
    await shot(page, "import", width)
    await click(page, "main form button[type=submit]")
    assert "/editor/subscribers/import/" in page.url
    await page.wait_for_selector("#job[data-status=done]", timeout=15000)  # reached by the meta refresh
    lines = [await r.get_attribute("data-line") for r in await page.locator("#problem-rows tr[data-line]").all()]
    assert lines == ["3", "4"]
    assert (await page.text_content("#added")).strip() == "2"
    await shot(page, "import-report", width)
    async with page.expect_download() as info:  # the whole report, for a spreadsheet
        await page.click("#problems-csv")
    report = await asyncio.to_thread(Path(await (await info.value).path()).read_text, encoding="utf-8-sig")
    assert [row.split(",")[0] for row in report.splitlines()] == ["السطر", "3", "4"]

    # export: a CSV download with everyone in it
    await page.goto(live_app + "/editor/subscribers")
    async with page.expect_download() as info:
        await page.click("#export")
    download = await info.value
    body = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8-sig")
    assert body.startswith("email,name,status") and "huda@example.org" in body and "reader00@example.org" in body

    # editors: give sara the admin role
    await page.goto(live_app + "/editor/editors")
    assert await page.get_attribute("#editors tr[data-editor=sara]", "data-role") == "editor"
    await click(page, "#editors tr[data-editor=sara] button")
    assert await page.get_attribute("#editors tr[data-editor=sara]", "data-role") == "admin"
    await shot(page, "editors", width)

    await page.goto(live_app + "/editor/settings")
    assert await page.locator("#settings tr[data-hidden]").count() >= 1
    assert "bench" not in await page.content()
    await shot(page, "settings", width)
    assert violations == []
    await context.close()


@pytest.mark.parametrize("width", [1280, 375])
async def test_an_editor_sees_no_admin_links_and_gets_a_403_in_arabic(
    staff: None, live_app: str, browser: Any, width: int
) -> None:
    context = await browser.new_context(viewport={"width": width, "height": 700}, java_script_enabled=False)
    page = await context.new_page()
    await sign_in_as(page, live_app, "sara", "/editor")
    assert await page.locator("nav a[href='/editor/subscribers']").count() == 0
    reply = await page.goto(live_app + "/editor/subscribers")
    assert reply.status == 403
    assert "للمشرفين وحدهم" in await page.inner_text("body")
    await shot(page, "forbidden", width)
    await context.close()
