"""Fetching a feed over real HTTP: one deadline for the whole fetch (a server that trickles bytes
cannot hold it), a size cap, redirects followed only to http(s), and conditional GETs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from typer.testing import CliRunner

from mailer.articles import fetch
from mailer.core.errors import InvalidFeed
from tests.support import factories
from tests.support.cli import mailer
from tests.support.feedserver import Handler, feed_server, trickle

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
FEED = factories.rss(factories.item(n, NOW) for n in range(1, 4))


async def test_a_trickling_server_cannot_hold_a_fetch_past_the_deadline(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every read gets a few bytes within half a second, so per-read timeouts never fire; only a
    deadline on the whole fetch stops it. The feed would be complete after 20 s."""
    monkeypatch.setenv("MAILER_FEED_DEADLINE_SECONDS", "2")
    async with feed_server() as server:
        url = server.serve("/slow.xml", trickle(FEED, pieces=40, every=0.5))
        code, out, err = await asyncio.wait_for(mailer(cli_env, "ingest", url), 60)
    assert code == 1, out
    assert "no complete answer within 2 s" in err
    assert "new" not in out  # nothing was stored from a fetch that ran out of time


async def test_a_feed_over_the_size_cap_is_refused_while_it_streams(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_FEED_MAX_BYTES", "4096")
    big = factories.rss(factories.item(n, NOW) for n in range(1, 40))
    assert len(big) > 4096

    async def no_length(request: Request) -> Response:  # chunked: the size is known only by counting
        async def body() -> AsyncIterator[bytes]:
            yield big

        return StreamingResponse(body(), media_type="application/rss+xml")

    async with feed_server() as server:
        declared = server.static("/big.xml", big)
        chunked = server.serve("/chunked.xml", no_length)
        for url in (declared, chunked):
            code, out, err = await mailer(cli_env, "ingest", url)
            assert code == 1, out
            assert "the 4096 bytes allowed" in err
        code, out, _ = await mailer(cli_env, "ingest", server.static("/small.xml", FEED))
    assert code == 0 and "3 new" in out


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/feed.xml", "gopher://127.0.0.1/1"])
async def test_a_redirect_is_followed_only_to_http(cli_env: CliRunner, target: str) -> None:
    async def away(request: Request) -> Response:
        return RedirectResponse(target, status_code=302)

    async with feed_server() as server:
        code, _, err = await mailer(cli_env, "ingest", server.serve("/away.xml", away))
    assert code == 1
    assert f"redirects to {target!r}, not an http(s) URL" in err


async def test_redirects_to_http_are_followed_a_few_times_at_most() -> None:
    async with feed_server() as server:
        server.static("/feed.xml", FEED)

        def hop(to: str) -> Handler:
            async def handler(request: Request) -> Response:
                return RedirectResponse(to, status_code=301)
            return handler

        server.serve("/moved.xml", hop("/feed.xml"))
        got = await fetch.fetch(server.url + "/moved.xml", deadline=10, max_bytes=1 << 20)
        assert got.status == "fetched" and got.body == FEED
        for n in range(fetch.MAX_REDIRECTS + 2):
            server.serve(f"/loop{n}", hop(f"/loop{n + 1}"))
        with pytest.raises(InvalidFeed, match=f"more than {fetch.MAX_REDIRECTS} redirects"):
            await fetch.fetch(server.url + "/loop0", deadline=10, max_bytes=1 << 20)


async def test_conditional_get_sends_the_validators_and_reads_304() -> None:
    async with feed_server() as server:
        url = server.static("/feed.xml", FEED, etag='"v1"', last_modified="Wed, 25 Nov 2026 04:00:00 GMT")
        first = await fetch.fetch(url, deadline=10, max_bytes=1 << 20)
        assert first.status == "fetched" and first.etag == '"v1"'
        again = await fetch.fetch(url, deadline=10, max_bytes=1 << 20, etag=first.etag,
                                  last_modified=first.last_modified)
        assert again.status == "not_modified" and again.body == b""
        sent = server.requests_to("/feed.xml")[-1].headers
        assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == first.last_modified


async def test_an_error_status_names_the_url_and_the_status() -> None:
    async def broken(request: Request) -> Response:
        return Response("oops", status_code=503)

    async with feed_server() as server:
        url = server.serve("/broken.xml", broken)
        with pytest.raises(InvalidFeed, match="503"):
            await fetch.fetch(url, deadline=10, max_bytes=1 << 20)
