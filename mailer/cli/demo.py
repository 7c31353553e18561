"""``mailer demo``: sample Arabic articles, a demo subscriber and a digest sent at once."""

from __future__ import annotations

import typer

from mailer.articles import demo, ingest
from mailer.cli.common import console, run, settings_of
from mailer.core.settings import Settings
from mailer.delivery.devmailbox import read_mailbox
from mailer.delivery.service import Service
from subscribers import store


def register(root: typer.Typer) -> None:
    root.command("demo")(demo_command)


async def seed_demo(svc: Service) -> None:
    """Sample Arabic articles and one confirmed demo subscriber (idempotent)."""
    now = svc.clock()
    parsed = ingest.parse_feed(demo.demo_feed("https://news.example.com", now), now=now)
    async with svc.db.transaction() as session:
        await ingest.store_feed(session, parsed)
        await store.add(session, "reader@example.com", now=now, name="قارئ تجريبي", status="confirmed")


def demo_command(ctx: typer.Context) -> None:
    """Seed sample articles and a demo subscriber, send a digest now, show where it landed."""
    settings = settings_of(ctx)

    async def job(svc: Service) -> None:
        await seed_demo(svc)
        result = await svc.send_now("daily")
        console.print(result.describe())
        await svc.sender.drain()

    run(settings, job)
    point_at_mailbox(settings)


def point_at_mailbox(settings: Settings) -> None:
    if settings.smtp is None:
        count = len(read_mailbox(settings.data_dir))
        console.print(
            f"development mailbox: {count} message(s) in {settings.data_dir / 'devmailbox'}; "
            "read them with `mailer mailbox list` and `mailer mailbox show 1 --html digest.html`"
        )
