"""``mailer shares``: what the share feature did, from its records (for audits and abuse)."""

from __future__ import annotations

from datetime import timedelta

import typer
from rich.table import Table

from mailer.cli.common import console, run, settings_of
from mailer.delivery.service import Service
from mailer.shares import records

app = typer.Typer(help="Send-to-a-friend shares: audit the records.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="shares")


@app.command("stats")
def stats_command(
    ctx: typer.Context,
    days: float = typer.Option(1.0, "--days", min=0.01, help="How far back to count, in days."),
    limit: int = typer.Option(20, "--limit", min=1, help="How many articles to list, most shared first."),
) -> None:
    """Shares per article (queued, delivered, refused) and refusals per reason."""

    settings = settings_of(ctx)

    async def job(svc: Service) -> records.Stats:
        async with svc.db.transaction() as session:
            return await records.stats(session, svc.clock() - timedelta(days=days))

    stats = run(settings, job)
    articles = Table("article", "title", "queued", "delivered", "refused", title=f"shares in the last {days:g} day(s)")
    for row in stats.articles[:limit]:
        title = row.title or ("(unknown article)" if row.article_id else "(no article id)")
        articles.add_row(str(row.article_id or "-"), title[:60], str(row.queued), str(row.delivered), str(row.refused))
    console.print(articles)
    refusals = Table("reason", "refused", title="refusals by reason")
    for reason, count in stats.refusals.items():
        refusals.add_row(reason, str(count))
    console.print(refusals)
    if stats.delivery:
        console.print("delivery of queued shares: " + ", ".join(f"{n} {s}" for s, n in sorted(stats.delivery.items())))
