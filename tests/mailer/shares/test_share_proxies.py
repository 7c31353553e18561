"""Whose X-Forwarded-For counts (issue 13, point 12): nobody's, unless MAILER_TRUSTED_PROXIES names
the proxy; then the client is the nearest address the trusted proxies did not add."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.mailer.shares.conftest import Harness

ShareApp = Callable[..., Awaitable[Harness]]


async def test_a_spoofed_forwarded_for_does_not_get_past_the_per_client_limit(share_app: ShareApp) -> None:
    h = await share_app(share_ip_limits="2/minute")
    article_id = await h.article()
    codes = []
    for n in range(4):
        token = await h.token(article_id)
        h.clock.advance(seconds=5)
        reply = await h.client.post("/share", data=h.fields(article_id, token, friend_email=f"f{n}@example.org"),
                                    headers={"X-Forwarded-For": f"198.51.100.{n}"})
        codes.append(reply.status_code)
    assert codes == [202, 202, 429, 429]


async def test_a_trusted_proxys_forwarded_for_names_the_client(share_app: ShareApp) -> None:
    h = await share_app(share_ip_limits="2/minute", trusted_proxies="127.0.0.1,10.0.0.0/8")
    article_id = await h.article()
    codes = []
    # each reader sends twice; a forged first hop is not believed: the client is the address the
    # trusted proxies received the request from
    for forwarded in ("203.0.113.7", "6.6.6.6, 203.0.113.7", "203.0.113.8, 10.1.2.3",
                      "203.0.113.8", "203.0.113.7"):
        token = await h.token(article_id)
        h.clock.advance(seconds=5)
        reply = await h.client.post(
            "/share", data=h.fields(article_id, token, friend_email=f"f{len(codes)}@example.org"),
            headers={"X-Forwarded-For": forwarded})
        codes.append(reply.status_code)
    assert codes == [202, 202, 202, 202, 429]
