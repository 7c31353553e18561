"""``mailer ingest``: read the site's feed once."""

from __future__ import annotations

import typer

from mailer.articles import ingest
from mailer.cli.common import console, err, run, settings_of
from mailer.delivery.service import Service


def register(root: typer.Typer) -> None:
    root.command("ingest")(ingest_command)


def ingest_command(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="An RSS 2.0 or Atom feed: http(s) URL or file path."),
) -> None:
    """Store the articles of a feed; known articles are updated, never duplicated."""
    settings = settings_of(ctx)

    async def job(svc: Service) -> ingest.StoreResult:
        data = await ingest.read_source(source)
        parsed = ingest.parse_feed(data, now=svc.clock())
        for problem in parsed.problems:
            err.print(f"[yellow]skipped[/yellow] {problem}")
        async with svc.db.transaction() as session:
            return await ingest.store_feed(session, parsed)

    result = run(settings, job)
    console.print(f"{result.new} new, {result.updated} updated, {result.unchanged} unchanged")
