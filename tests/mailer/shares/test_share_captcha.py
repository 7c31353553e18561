"""The CAPTCHA hook, verified server-side against a siteverify endpoint on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mailer.delivery.devmailbox import free_port
from tests.mailer.shares.conftest import Harness

ShareApp = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def siteverify() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A provider's siteverify: "solved" is the only right answer; every call is kept."""
    calls: list[dict[str, str]] = []

    async def verify(request: Request) -> JSONResponse:
        form = dict((await request.form()).items())
        calls.append({k: str(v) for k, v in form.items()})
        return JSONResponse({"success": form.get("secret") == "captcha-secret" and form.get("response") == "solved"})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/siteverify", verify, methods=["POST"])]),
                                           host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/siteverify", calls
    finally:
        server.should_exit = True
        await task


async def test_captcha_is_verified_server_side(share_app: ShareApp, siteverify) -> None:
    url, calls = siteverify
    h = await share_app(share_captcha="turnstile", share_captcha_site_key="site-key",
                        share_captcha_secret="captcha-secret", share_captcha_verify_url=url)
    article_id = await h.article()
    page = await h.client.get(h.form_path(article_id))
    assert 'class="cf-turnstile" data-sitekey="site-key"' in page.text
    assert (await h.client.get(h.form_path(article_id), headers={"Accept": "application/json"})).json()["captcha"] == {
        "provider": "turnstile", "site_key": "site-key", "field": "cf-turnstile-response"}

    await h.assert_refused(await h.share(article_id), 400, "captcha")  # no answer at all
    wrong = await h.share(article_id, **{"cf-turnstile-response": "guessed"})
    await h.assert_refused(wrong, 400, "captcha")
    assert "أكمل خطوة التحقق" in wrong.text
    right = await h.share(article_id, **{"cf-turnstile-response": "solved"})
    assert right.status_code == 202
    assert calls[-1] == {"secret": "captcha-secret", "response": "solved", "remoteip": "127.0.0.1"}
    assert len(await h.deliver()) == 1


async def test_unreachable_provider_fails_closed(share_app: ShareApp) -> None:
    h = await share_app(share_captcha="hcaptcha", share_captcha_site_key="k", share_captcha_secret="s",
                        share_captcha_verify_url=f"http://127.0.0.1:{free_port()}/siteverify")
    reply = await h.share(await h.article(), **{"h-captcha-response": "anything"})
    await h.assert_refused(reply, 400, "captcha")
