"""Polling the site's feeds (``MAILER_FEEDS``): each one's ETag and Last-Modified are kept in the
``feeds`` table for conditional GETs, and a feed that fails waits longer each time (``backoff``)
before it is asked again. What a fetch brings is stored by ``ingest.store``: a known guid is
updated in place, never a second article, so nothing is sent twice because a feed changed.

``mailer serve`` polls every ``MAILER_FEED_POLL_MINUTES`` (``editions.schedule``), and so does
``mailer ingest --watch``; several processes polling at once only fetch twice, the store is
idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.articles import fetch, ingest
from mailer.core.db import Database, insert
from mailer.core.errors import InvalidFeed
from mailer.core.models import Feed
from mailer.core.settings import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)


def backoff(failures: int, poll_minutes: float) -> timedelta:
    """How long a feed that failed ``failures`` times in a row waits: the poll interval doubled
    per failure, at most six hours (but never less than one interval)."""
    interval = timedelta(minutes=poll_minutes)
    doubled = interval * (1 << min(max(failures - 1, 0), 16))
    return max(interval, min(doubled, MAX_BACKOFF))


@dataclass
class PollResult:
    url: str
    status: str  # fetched | not_modified | error | waiting
    stored: ingest.StoreResult | None = None
    problems: list[ingest.Problem] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        if self.stored is not None:
            s = self.stored
            return f"{self.url}: {s.new} new, {s.updated} updated, {s.unchanged} unchanged"
        return f"{self.url}: {self.error or self.status.replace('_', ' ')}"


async def _feed(session: AsyncSession, url: str) -> Feed:
    await session.execute(
        insert(session, Feed).values(url=url, failures=0).on_conflict_do_nothing(index_elements=["url"])
    )
    return (await session.scalars(select(Feed).where(Feed.url == url))).one()


async def poll_feed(
    db: Database, settings: Settings, url: str, now: datetime, *, force: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> PollResult:
    """Fetch one feed unless it is backing off (``force`` fetches anyway), store its articles."""
    async with db.transaction() as session:
        feed = await _feed(session, url)
    if not force and feed.next_poll_at is not None and feed.next_poll_at > now:
        return PollResult(url, "waiting", error=f"backing off until {feed.next_poll_at.isoformat()}")
    try:
        got = await fetch.fetch(url, deadline=settings.feed_deadline_seconds, max_bytes=settings.feed_max_bytes,
                                etag=feed.etag, last_modified=feed.last_modified, transport=transport)
        parsed = (ingest.parse_feed(got.body, now=now, breaking_categories=settings.breaking_categories)
                  if got.status == "fetched" else None)
    except InvalidFeed as exc:
        failures = feed.failures + 1
        wait = backoff(failures, settings.feed_poll_minutes)
        log.warning("feed %s failed (%d in a row), next try in %s: %s", url, failures, wait, exc.message)
        async with db.transaction() as session:
            await session.execute(update(Feed).where(Feed.id == feed.id).values(
                failures=failures, next_poll_at=now + wait, checked_at=now, last_status="error",
                last_error=exc.message[:2000]))
        return PollResult(url, "error", error=exc.message)
    async with db.transaction() as session:
        stored = await ingest.store_feed(session, parsed) if parsed is not None else None
        await session.execute(update(Feed).where(Feed.id == feed.id).values(
            failures=0, next_poll_at=None, checked_at=now, last_status=got.status, last_error=None,
            # a 304 may omit the validators: keep the ones we had
            etag=got.etag or feed.etag, last_modified=got.last_modified or feed.last_modified))
    result = PollResult(url, got.status, stored, parsed.problems if parsed else [])
    for problem in result.problems:
        log.warning("feed %s: skipped %s", url, problem)
    log.info("feed %s", result.describe())
    return result


async def poll_all(db: Database, settings: Settings, now: datetime, *, force: bool = False) -> list[PollResult]:
    """Every feed of the settings, one after another; one failing does not stop the others."""
    return [await poll_feed(db, settings, url, now, force=force) for url in settings.feeds]
