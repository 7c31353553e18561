"""Polling the site's feeds (MAILER_FEEDS): conditional GETs remembered per feed, backoff after
errors, a changed article updated and never sent again, breaking categories alerted once; and the
two pollers, `mailer serve`'s scheduler and `mailer ingest --watch`, as real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from mailer.articles.polling import backoff
from mailer.core.db import Database
from mailer.core.models import Article, Feed, OutboxMessage
from mailer.core.settings import Settings
from mailer.delivery.devmailbox import free_port
from mailer.delivery.service import Service
from mailer.editions.schedule import DigestScheduler
from tests.conftest import Clock
from tests.support import factories
from tests.support.feedserver import FeedServer, feed_server
from tests.support.smtpd import SMTPServer

LISTS = {
    "daily": {"name": "النشرة اليومية", "schedule": "0 7 * * *"},
    "breaking": {"name": "الأخبار العاجلة", "schedule": "immediate"},
}


def feed(clock: Clock, *, titles: dict[int, str] | None = None, breaking: tuple[int, ...] = ()) -> bytes:
    items = []
    for n in range(1, 4):
        item = factories.item(n, clock.now, title=(titles or {}).get(n))
        if n in breaking:
            item["category"] += "</category><category>عاجل"
        items.append(item)
    return factories.rss(items)


async def started(make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer,
                  clock: Clock, url: str, **extra: Any) -> Service:
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, feeds=url, **extra)
    return await Service(settings, clock=clock).start()


async def feed_row(svc: Service) -> Feed:
    async with svc.db.transaction() as session:
        return (await session.scalars(select(Feed))).one()


def test_backoff_doubles_from_the_poll_interval_up_to_six_hours() -> None:
    assert [backoff(n, 10) for n in (0, 1, 2, 3)] == [timedelta(minutes=m) for m in (10, 10, 20, 40)]
    assert backoff(30, 10) == timedelta(hours=6)
    assert backoff(1, 600) == timedelta(minutes=600)  # never sooner than the poll interval


async def test_conditional_get_then_backoff_on_errors_then_recovery(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock
) -> None:
    async with feed_server() as server:
        url = server.static("/feed.xml", feed(clock), etag='"v1"')
        svc = await started(make_settings, database_url, smtp_server, clock, url)
        try:
            [first] = await svc.poll_feeds()
            assert first.status == "fetched" and first.stored is not None and first.stored.new == 3
            [second] = await svc.poll_feeds()
            assert second.status == "not_modified"
            assert server.requests_to("/feed.xml")[-1].headers["if-none-match"] == '"v1"'

            async def broken(request: Request) -> Response:
                return Response("down", status_code=500)

            server.serve("/feed.xml", broken)
            [failed] = await svc.poll_feeds()
            assert failed.status == "error" and "500" in (failed.error or "")
            row = await feed_row(svc)
            assert row.failures == 1 and row.next_poll_at == clock.now + timedelta(minutes=10)
            asked = len(server.requests_to("/feed.xml"))
            clock.advance(minutes=5)
            [waiting] = await svc.poll_feeds()
            assert waiting.status == "waiting" and len(server.requests_to("/feed.xml")) == asked
            clock.advance(minutes=5)
            await svc.poll_feeds()
            assert (await feed_row(svc)).failures == 2 and len(server.requests_to("/feed.xml")) == asked + 1
            assert (await feed_row(svc)).next_poll_at == clock.now + timedelta(minutes=20)

            server.static("/feed.xml", feed(clock), etag='"v1"')
            clock.advance(minutes=20)
            [back] = await svc.poll_feeds()
            assert back.status == "not_modified"  # the validators were kept through the errors
            row = await feed_row(svc)
            assert row.failures == 0 and row.next_poll_at is None and row.last_error is None
        finally:
            await svc.close()


async def test_a_changed_article_is_updated_never_sent_again(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock
) -> None:
    async with feed_server() as server:
        url = server.static("/feed.xml", feed(clock, breaking=(2,)))
        svc = await started(make_settings, database_url, smtp_server, clock, url, lists=LISTS,
                            breaking_categories="عاجل")
        try:
            await factories.subscriber(svc, "reader@example.org", lists=("daily", "breaking"))
            [polled] = await svc.poll_feeds()
            assert polled.stored is not None and polled.stored.breaking and polled.stored.new == 3
            await svc.run_list("daily", clock.now)
            await svc.sender.drain()
            subjects = [r.message["Subject"] for r in smtp_server.received]
            assert len(subjects) == 2 and sum(s.startswith("عاجل: ") for s in subjects) == 1

            # the site edits both articles (same guids): updated in place, no second alert
            server.static("/feed.xml", feed(clock, titles={1: "عنوان مُصحَّح", 2: "عنوان عاجل مُحدَّث"},
                                             breaking=(2,)))
            clock.advance(minutes=10)
            [again] = await svc.poll_feeds()
            assert again.stored is not None and (again.stored.new, again.stored.updated) == (0, 2)
            async with svc.db.transaction() as session:
                titles = set(await session.scalars(select(Article.title)))
            assert {"عنوان مُصحَّح", "عنوان عاجل مُحدَّث"} <= titles and len(titles) == 3
            clock.advance(days=1)
            result = await svc.run_list("daily", clock.now)
            assert result.action == "empty"  # nothing new in the window: nothing resent
            await svc.sender.drain()
            assert len(smtp_server.received) == 2
            async with svc.db.transaction() as session:
                assert len(list(await session.scalars(select(OutboxMessage.id)))) == 2
        finally:
            await svc.close()


async def test_the_scheduler_polls_at_start_and_every_interval() -> None:
    polls: list[float] = []
    loop = asyncio.get_running_loop()

    async def poll() -> None:
        polls.append(loop.time())

    async def run_list(name: str, fire: object) -> None:
        raise AssertionError("no list is scheduled here")

    scheduler = DigestScheduler({}, "Asia/Baghdad", run_list, poll=poll, poll_minutes=0.5 / 60)
    scheduler.start()
    try:
        for _ in range(200):
            if len(polls) >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown()
    assert len(polls) >= 3  # at once, then every half second


def _environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_") or k.startswith("MAILER_TEST_")}
    env.update({
        "MAILER_DATABASE_URL": settings.database_url, "MAILER_DATA_DIR": str(settings.data_dir),
        "MAILER_SECRET_KEY": "x" * 40, "MAILER_DEVMAILBOX_PORT": "0", "MAILER_LOG_LEVEL": "INFO",
        "MAILER_SMTP_URL": settings.smtp_url or "", **extra,
    })
    return env


async def _wait_for(server: FeedServer, path: str, count: int, proc: asyncio.subprocess.Process) -> None:
    for _ in range(600):
        if len(server.requests_to(path)) >= count or proc.returncode is not None:
            return
        await asyncio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_mailer_ingest_watch_polls_with_conditional_gets_until_stopped(
    settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    async with feed_server() as server:
        url = server.static("/feed.xml", feed(clock), etag='"v7"')
        env = _environment(settings, MAILER_FEEDS=url, MAILER_FEED_POLL_MINUTES="0.02")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mailer.cli.main", "ingest", "--watch", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            await _wait_for(server, "/feed.xml", 3, proc)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
    seen = server.requests_to("/feed.xml")
    assert len(seen) >= 3, err.decode()
    assert "if-none-match" not in seen[0].headers and all(s.headers.get("if-none-match") == '"v7"' for s in seen[1:])
    assert proc.returncode == 0, err.decode()
    assert "3 new" in out.decode() and "not modified" in out.decode()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_mailer_serve_polls_the_feeds(settings: Settings, clock: Clock, tmp_path: Path) -> None:
    async with feed_server() as server:
        url = server.static("/feed.xml", feed(clock))
        env = _environment(settings, MAILER_FEEDS=url, MAILER_WEB_PORT=str(free_port()))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mailer.cli.main", "serve", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        db = Database(settings.database_url)
        try:
            await _wait_for(server, "/feed.xml", 1, proc)
            for _ in range(200):  # stored a moment after the fetch
                async with db.transaction() as session:
                    if len(list(await session.scalars(select(Article.id)))) == 3:
                        break
                await asyncio.sleep(0.05)
        finally:
            await db.dispose()
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert len(server.requests_to("/feed.xml")) >= 1, err.decode()
    assert "3 new" in err.decode()
