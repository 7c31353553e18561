"""``mailer ingest``: read a feed once, or poll the site's feeds (``--watch``)."""

from __future__ import annotations

import asyncio
import signal
from contextlib import suppress

import typer

from mailer.articles import fetch, ingest
from mailer.articles.polling import PollResult
from mailer.cli.common import console, err, fail, run, settings_of
from mailer.delivery.service import Service


def register(root: typer.Typer) -> None:
    root.command("ingest")(ingest_command)


def ingest_command(
    ctx: typer.Context,
    source: str | None = typer.Argument(
        None, help="An RSS 2.0 or Atom feed: http(s) URL or file path. Default: the feeds of MAILER_FEEDS."),
    watch: bool = typer.Option(
        False, "--watch", help="Keep polling (SOURCE, or MAILER_FEEDS) every MAILER_FEED_POLL_MINUTES until stopped."),
) -> None:
    """Store the articles of a feed; known articles are updated, never duplicated or sent again.

    Articles in a breaking category (MAILER_BREAKING_CATEGORIES) are queued at once for the
    immediate lists; `mailer serve` or `mailer worker` sends them.
    """
    overrides = {"feeds": source} if source and source.startswith(("http://", "https://")) else {}
    settings = settings_of(ctx, **overrides)
    if watch:
        if not settings.feeds:
            fail("--watch: no feed to poll: give an http(s) SOURCE or set MAILER_FEEDS")
        run(settings, _watch)
        return
    if source is None:
        if not settings.feeds:
            fail("SOURCE: give a feed URL or file, or set MAILER_FEEDS")
        results = run(settings, lambda svc: svc.poll_feeds(force=True))
        _report(results)
        if any(r.status == "error" for r in results):
            raise typer.Exit(1)
        return

    async def once(svc: Service) -> ingest.StoreResult:
        s = svc.settings
        data = await fetch.read_source(source, deadline=s.feed_deadline_seconds, max_bytes=s.feed_max_bytes)
        parsed = ingest.parse_feed(data, now=svc.clock(), breaking_categories=s.breaking_categories)
        for problem in parsed.problems:
            err.print(f"[yellow]skipped[/yellow] {problem}", highlight=False)
        async with svc.db.transaction() as session:
            stored = await ingest.store_feed(session, parsed)
        await svc.alert_all(stored.breaking)
        return stored

    result = run(settings, once)
    console.print(f"{result.new} new, {result.updated} updated, {result.unchanged} unchanged")


def _report(results: list[PollResult]) -> None:
    for result in results:
        (err if result.status == "error" else console).print(result.describe(), highlight=False, soft_wrap=True)


async def _watch(svc: Service) -> None:
    """Poll until SIGTERM or Ctrl-C; each feed's own backoff decides whether it is asked."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    while not stop.is_set():
        _report(await svc.poll_feeds())
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), svc.settings.feed_poll_minutes * 60)
