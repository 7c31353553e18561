"""``mailer demo``: sample Arabic articles, a demo subscriber, a digest sent at once and one
breaking-news alert; with no lists configured, a third list (``breaking``, immediate) is added to
the two default ones for the demo."""

from __future__ import annotations

import typer

from mailer.articles import demo, ingest
from mailer.cli.common import console, run, settings_of
from mailer.core.lists import IMMEDIATE, NewsList
from mailer.core.settings import Settings
from mailer.delivery.devmailbox import read_mailbox
from mailer.delivery.service import Service
from subscribers import store


def register(root: typer.Typer) -> None:
    root.command("demo")(demo_command)


BREAKING = NewsList(name="الأخبار العاجلة", schedule=IMMEDIATE, description="الخبر المهم لحظة نشره")


def demo_settings(settings: Settings) -> Settings:
    """The settings with a breaking-news list besides the default two, unless lists are configured."""
    if "lists" in settings.model_fields_set or settings.immediate_lists:
        return settings
    return settings.model_copy(update={"lists": {**settings.lists, "breaking": BREAKING}})


async def seed_demo(svc: Service) -> list[int]:
    """Sample Arabic articles and one confirmed demo subscriber of every list (idempotent);
    returns the articles' ids."""
    now = svc.clock()
    parsed = ingest.parse_feed(demo.demo_feed("https://news.example.com", now), now=now)
    async with svc.db.transaction() as session:
        stored = await ingest.store_feed(session, parsed)
        await store.add(session, "reader@example.com", now=now, name="قارئ تجريبي", status="confirmed",
                        lists=tuple(svc.settings.lists))
    return stored.ids


async def send_demo(svc: Service) -> None:
    """A digest of the first scheduled list now, and the first article as breaking news."""
    ids = await seed_demo(svc)
    if svc.settings.scheduled_lists:
        console.print((await svc.send_now(svc.settings.scheduled_lists[0])).describe())
    for result in await svc.alert(ids[0]):
        console.print(result.describe())


def demo_command(ctx: typer.Context) -> None:
    """Seed sample articles and a demo subscriber, send a digest and an alert now, show where they landed."""
    settings = demo_settings(settings_of(ctx))

    async def job(svc: Service) -> None:
        await send_demo(svc)
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
