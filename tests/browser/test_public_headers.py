"""Public pages carry a strict Content-Security-Policy (no third-party origin, a nonce for the one
style block), frame-ancestors, nosniff and a Referrer-Policy, and still look right in a browser;
the API docs are off unless MAILER_API_DOCS=true, then behind editor login with no CDN (issue 13,
point 14)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mailer.articles import ingest
from mailer.delivery.service import Service
from tests.conftest import Clock, serve
from tests.mailer.web.test_editor_auth import sign_in
from tests.support import factories

pytestmark = pytest.mark.browser


async def _article(service: Service, clock: Clock) -> str:
    """An article with an image on another host; its share page is by the site's own guid."""
    payload = {"guid": "news-1", "url": "https://news.example.com/news/1", "title": "خبر",
               "image_url": "https://img.example.net/1.jpg"}
    async with service.db.transaction() as session:
        await ingest.store(session, [ingest.parse_api(payload, now=clock.now)])
    return "news-1"


async def test_public_pages_have_a_strict_policy_and_still_look_right(
    service: Service, clock: Clock, live_app: str, browser: Any
) -> None:
    article_id = await _article(service, clock)
    paths = ["/subscribe", f"/share/{article_id}", "/u/forged.token", "/no/such/page"]
    context = await browser.new_context(locale="ar")
    page = await context.new_page()
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    for path in paths:
        reply = await page.goto(live_app + path)
        assert reply is not None
        headers = await reply.all_headers()
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp and "script-src" not in csp, path
        assert "'unsafe-inline'" not in csp and "*" not in csp
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"], path
        # the nonce'd style block applies: the page is laid out as designed
        assert await page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "560px", path
    share = await (await context.new_page()).goto(f"{live_app}/share/{article_id}")
    assert share is not None
    share_csp = (await share.all_headers())["content-security-policy"]
    assert "img-src 'self' https://img.example.net" in share_csp  # the article's own image, and no other host
    assert violations == []
    await context.close()


async def test_api_docs_are_off_by_default_and_editors_only_when_on(service: Service, clock: Clock, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        for path in ("/api/docs", "/api/openapi.json", "/docs", "/redoc", "/openapi.json"):
            assert (await client.get(path)).status_code == 404, path
    on = await Service(service.settings.model_copy(update={"api_docs": True}), clock=clock).start()
    try:
        await factories.editor(on)
        async with serve(on) as url, httpx.AsyncClient(base_url=url) as client:
            refused = [await client.get(path, follow_redirects=True) for path in ("/api/openapi.json", "/api/docs")]
            assert [r.url.path for r in refused] == ["/editor/login"] * 2
            await sign_in(client)
            schema = (await client.get("/api/openapi.json", follow_redirects=True)).json()
            docs = await client.get("/api/docs", follow_redirects=True)
    finally:
        await on.close()
    assert not [p for p in schema["paths"] if p.startswith("/editor")]
    assert "/subscribe" in schema["paths"] and "/api/articles" in schema["paths"]
    assert docs.status_code == 200 and "/subscribe" in docs.text and "cdn" not in docs.text.lower()
    assert "<script" not in docs.text and "http" not in docs.text.replace(url, "")
