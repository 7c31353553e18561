"""The README's "Add it to your site" snippets, pasted as they are into an article page served from
another origin (a second loopback port) and driven in Chromium: from an origin listed in
MAILER_SITE_ORIGINS the framed subscribe form, the share button's dialog, the plain form and the
site's own script all work; from an origin not listed the frames stay empty, the script's
requests fail and the plain form is refused. Also the headers themselves, over plain HTTP."""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from mailer.articles import ingest
from mailer.core.settings import Settings
from mailer.delivery.devmailbox import free_port
from mailer.delivery.service import Service
from tests.conftest import Clock
from tests.subscribers.helpers import status_of
from tests.support.smtpd import SMTPServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"
MAILER = "https://newsletter.example.com"
SITE = "https://www.example.com"
LISTED, OTHER = free_port(), free_port()
SUBSCRIBED = "رابط لتأكيد"


def snippets() -> dict[str, str]:
    """The HTML blocks of the README marked ``<!-- snippet: NAME -->``."""
    text = README.read_text(encoding="utf-8")
    found = re.findall(r"<!-- snippet: (\S+) -->\s*\n\s*```html\n(.*?)\n\s*```", text, re.S)
    return {name: textwrap.dedent(body) for name, body in found}


def article_page(mailer: str, site: str) -> str:
    """An article page of the site with every snippet in it, pointed at the service under test."""
    parts = snippets()
    assert set(parts) == {"share-button", "subscribe-iframe", "subscribe-form", "share-json"}
    body = "\n".join(parts[name] for name in ("share-button", "subscribe-iframe", "subscribe-form", "share-json"))
    body = body.replace(quote(SITE + "/news/1001", safe=""), quote(site + "/news/1001", safe=""))
    body = body.replace(MAILER, mailer).replace(SITE, site)
    return (f'<!DOCTYPE html><html dir="rtl" lang="ar"><head><meta charset="utf-8">'
            f'<link rel="canonical" href="{site}/news/1001"><title>خبر</title></head>'
            f"<body><h1>خبر من الموقع</h1>{body}</body></html>")


@asynccontextmanager
async def site(port: int, mailer: str) -> AsyncIterator[str]:
    """The news site: one article page, on its own loopback origin."""
    origin = f"http://127.0.0.1:{port}"

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(article_page(mailer, origin))

    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/news/1001", page)]), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield origin
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer) -> Settings:
    return make_settings(database_url=database_url, smtp_url=smtp_server.url,
                         site_origins=f"http://127.0.0.1:{LISTED}", share_min_fill_seconds=0)


async def seed(service: Service, clock: Clock) -> None:
    """The site's article, as its feed announced it (the listed origin's link)."""
    payload = {"url": f"http://127.0.0.1:{LISTED}/news/1001", "title": "العراق يرفض اتهام أمريكا للمهندس",
               "summary": "<p>ملخص الخبر.</p>", "section": "سياسة", "guid": "1001"}
    async with service.db.transaction() as session:
        await ingest.store(session, [ingest.parse_api(payload, now=clock.now)])


def frame_of(page: Any, prefix: str) -> Any:
    return next((f for f in page.frames if f.url.startswith(prefix)), None)


async def has_form(frame: Any) -> bool:
    try:
        return bool(await frame.locator("form input[name=email], form input[name=friend_email]").count())
    except Exception:  # an error page, or a frame already gone
        return False


async def test_the_snippets_work_from_a_listed_origin(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str, browser: Any
) -> None:
    await seed(service, clock)
    async with site(LISTED, live_app) as origin:
        page = await browser.new_page(locale="ar")
        await page.goto(f"{origin}/news/1001")

        # the framed subscribe form loads, and subscribes
        await page.wait_for_function(
            "() => [...document.querySelectorAll('iframe')].some(f => f.src.endsWith('/subscribe'))")
        for _ in range(100):
            subscribe = frame_of(page, live_app + "/subscribe")
            if subscribe is not None and await has_form(subscribe):
                break
            await asyncio.sleep(0.05)
        assert subscribe is not None and await has_form(subscribe)
        await subscribe.fill("input[name=email]", "framed@example.org")
        await subscribe.click("form button[type=submit]")
        await subscribe.wait_for_function(f"() => document.body.innerText.includes({SUBSCRIBED!r})")
        assert await status_of(service, "framed@example.org") == "pending"

        # the site's own script: a token by the page's link, then the share as JSON (CORS)
        answer = await page.evaluate("() => shareWithFriend('script@example.org', 'أحمد')")
        assert answer["status"] == "queued", answer

        # the share button opens the form in a dialog over the article
        await page.click("a[data-mailer-share]")
        await page.wait_for_selector("dialog.mailer-share-dialog[open] iframe")
        for _ in range(100):
            shared = frame_of(page, live_app + "/share")
            if shared is not None and await has_form(shared):
                break
            await asyncio.sleep(0.05)
        assert shared is not None and "العراق يرفض اتهام" in await shared.inner_text("main")
        assert await shared.get_attribute("form", "dir") == "rtl"
        await shared.fill("input[name=friend_email]", "dialog@example.org")
        await shared.fill("input[name=sender_name]", "ليلى")
        await shared.click("form button[type=submit]")
        await shared.wait_for_function("() => document.body.innerText.includes('أرسلنا الخبر إلى صديقك')")
        await page.click("dialog.mailer-share-dialog .mailer-share-close")
        await page.wait_for_selector("dialog.mailer-share-dialog", state="detached")

        # the plain form posts across origins and lands on the service's Arabic page
        await page.fill("form[action$='/subscribe'] input[name=email]", "plain@example.org")
        await page.click("form[action$='/subscribe'] button[type=submit]")
        await page.wait_for_url(live_app + "/subscribe")
        assert SUBSCRIBED in await page.inner_text("main")
        assert await status_of(service, "plain@example.org") == "pending"
        await page.close()

    await service.sender.drain()
    shares = sorted(r.rcpt_tos[0] for r in smtp_server.received if "share" in r.message["Message-ID"])
    assert shares == ["dialog@example.org", "script@example.org"]


async def test_the_snippets_fail_from_an_origin_not_listed(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str, browser: Any
) -> None:
    await seed(service, clock)
    async with site(OTHER, live_app) as origin:
        page = await browser.new_page(locale="ar")
        await page.goto(f"{origin}/news/1001")
        await page.wait_for_load_state("load")
        await asyncio.sleep(0.5)
        framed = [f for f in page.frames if f is not page.main_frame]
        assert framed and not [f for f in framed if await has_form(f)]  # frame-ancestors refused it

        failed = await page.evaluate(
            "() => shareWithFriend('script@example.org', 'أحمد').then(() => 'worked', e => e.name)")
        assert failed == "TypeError"  # CORS: the browser never hands the answer to the page

        await page.click("a[data-mailer-share]")
        await page.wait_for_selector("dialog.mailer-share-dialog[open] iframe")
        await asyncio.sleep(0.5)
        dialog_frames = [f for f in page.frames if f is not page.main_frame and f.parent_frame == page.main_frame]
        assert not [f for f in dialog_frames if await has_form(f)]
        await page.keyboard.press("Escape")  # a dialog closes with Escape too
        await page.wait_for_selector("dialog.mailer-share-dialog", state="detached")

        await page.fill("form[action$='/subscribe'] input[name=email]", "plain@example.org")
        await page.click("form[action$='/subscribe'] button[type=submit]")
        await page.wait_for_url(live_app + "/subscribe")
        assert "لا يقبل هذا النموذج الطلبات من هذا الموقع" in await page.inner_text("main")
        await page.close()
    assert await status_of(service, "plain@example.org") is None
    await service.sender.drain()
    assert smtp_server.received == []


async def test_the_headers_say_who_may_embed_and_call(service: Service, clock: Clock, live_app: str) -> None:
    await seed(service, clock)
    listed, other = f"http://127.0.0.1:{LISTED}", f"http://127.0.0.1:{OTHER}"
    async with httpx.AsyncClient(base_url=live_app) as client:
        for path in ("/subscribe", "/share/1001", "/share?url=" + quote(listed + "/news/1001")):
            reply = await client.get(path)
            assert reply.status_code == 200, path
            policy = reply.headers["content-security-policy"].split("; ")
            assert f"frame-ancestors 'self' {listed}" in policy and "default-src 'none'" in policy, path
        assert "content-security-policy" not in (await client.get("/healthz")).headers
        preflight = {"Origin": listed, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"}
        allowed = await client.options("/share", headers=preflight)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == listed
        assert "access-control-allow-credentials" not in allowed.headers
        refused = await client.options("/share", headers={**preflight, "Origin": other})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        token = await client.get("/share/1001", headers={"Origin": listed, "Accept": "application/json"})
        assert token.headers["access-control-allow-origin"] == listed
        for path in ("/share/stop/x", "/healthz", "/api/editions", "/editor/login"):
            reply = await client.get(path, headers={"Origin": listed})
            assert "access-control-allow-origin" not in reply.headers, path
        script = await client.get("/embed/share.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert "data-mailer-share" in script.text and script.headers["x-content-type-options"] == "nosniff"
