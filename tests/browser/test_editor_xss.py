"""Stored XSS: an article title and a subscriber name carrying script and event-handler payloads
are shown as plain text on every editor page and in the previewed e-mail, and nothing runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from mailer.articles import ingest
from mailer.delivery.service import Service
from tests.browser.test_editor_preview import FIRE, frame, sign_in
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TITLE = ('<script>window.__xss="title"</script><img src=x onerror="window.__xss=\'img\'">'
         'خبر "عاجل" \' onmouseover="window.__xss=\'attr\'"')
NAME = '"><svg onload="window.__xss=\'name\'"><script>alert("name")</script>سارة'
READER = "victim@example.org"

# Nothing injected: no script element, no element with an on* handler, no svg, no global set.
INSPECT = """() => ({
  xss: window.__xss === undefined ? null : String(window.__xss),
  scripts: document.querySelectorAll('script').length,
  svgs: document.querySelectorAll('svg').length,
  handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes])
              .filter(a => a.name.startsWith('on')).map(a => a.name),
  text: document.body.innerText,
})"""


async def inspect(target: Any, *payloads: str) -> None:
    found = await target.evaluate(INSPECT)
    assert found["xss"] is None and found["scripts"] == 0 and found["svgs"] == 0, found
    assert found["handlers"] == [], found["handlers"]
    for payload in payloads:
        assert payload in found["text"], f"{payload!r} is not shown as text"


async def test_payloads_are_shown_escaped_and_never_run(
    service: Service, clock: Clock, live_app: str, browser: Any, smtp_server: SMTPServer
) -> None:
    clock.now = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    article = ingest.parse_api(
        {"url": "https://news.example.com/news/77", "title": TITLE, "section": TITLE[:60]}, now=clock.now
    )
    async with service.db.transaction() as session:
        await ingest.store(session, [article])
    await factories.subscriber(service, READER, name=NAME)
    await factories.editor(service)

    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await sign_in(page, live_app, "/editor")
    as_reader = f"/editor/preview/digest?ref=daily&as={quote(READER)}"
    pages = {"/editor": (TITLE,), "/editor/preview/digest?ref=daily": (TITLE,), as_reader: (TITLE, NAME)}

    async def visit(path: str, payloads: tuple[str, ...]) -> None:
        await page.goto(live_app + path)
        await inspect(page, *payloads)
        raw = await (await page.request.get(live_app + path)).text()
        assert "<script" not in raw and "<svg" not in raw and "<img src=x" not in raw
        assert "&lt;script&gt;" in raw
        if await page.query_selector("#frame-desktop"):
            for element_id in ("frame-desktop", "frame-phone"):
                await inspect(await frame(page, element_id), *payloads)

    for path, payloads in pages.items():
        await visit(path, payloads)
    # the name is in the text part and the greeting as the reader will get them
    await page.goto(live_app + as_reader)
    assert NAME in await page.text_content("#text-part")
    assert NAME in await page.text_content("#reader")

    # and once sent, the past edition's page and what the reader received
    clock.now = FIRE
    result = await service.run_list("daily", FIRE)
    assert await service.sender.drain() == {"sent": 1}
    await visit(f"/editor/preview/edition?ref={result.edition.id}&as={quote(READER)}", (TITLE, NAME))
    html = smtp_server.received[0].message.get_body(("html",)).get_content()
    assert "<script" not in html and "&lt;script&gt;" in html
    assert dialogs == []
