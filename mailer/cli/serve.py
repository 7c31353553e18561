"""``mailer serve``: the main job. The web app, the digest scheduler and the sender in one
process, supervised together: when one stops, all stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from mailer.cli.common import err, settings_of
from mailer.cli.demo import demo_settings, point_at_mailbox, send_demo
from mailer.core import loop
from mailer.core.errors import MailerError
from mailer.core.heap import freeze_startup
from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.delivery.service import Service

LIST_COUNTS_CRON = "55 * * * *"  # hourly: the day's last count stands for it, whenever the process stops


def register(root: typer.Typer) -> None:
    root.command("serve")(serve_command)


def serve_command(
    ctx: typer.Context,
    demo_data: bool = typer.Option(
        False, "--demo", help="Seed sample data, add a breaking-news list, send a demo digest and an alert at start."),
    host: str | None = typer.Option(None, help="Listen address (MAILER_WEB_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (MAILER_WEB_PORT)."),
    scheduler: bool = typer.Option(True, help="Run the digest scheduler in this process."),
) -> None:
    """The main job: the web app, the digest scheduler and the sender, in one process."""
    settings = settings_of(ctx, web_host=host, web_port=port)
    if demo_data:
        settings = demo_settings(settings)
    try:
        loop.run(_serve(settings, demo_data=demo_data, with_scheduler=scheduler))
    except MailerError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


async def _serve(settings: Settings, *, demo_data: bool, with_scheduler: bool) -> None:
    import uvicorn  # the web stack loads only for the command that serves it
    from uvicorn.config import LOGGING_CONFIG

    from mailer.editions.schedule import DigestScheduler
    from mailer.web.app import create_app, server_config

    svc = await Service(settings).start()
    stop = asyncio.Event()
    background = [asyncio.create_task(svc.sender_loop(stop))]
    digest_scheduler = None
    try:
        svc.transport  # noqa: B018  (starts the development mailbox when no relay is set)
        if demo_data:
            await send_demo(svc)
        if with_scheduler:
            crons = {name: settings.cron_for(name) for name in settings.scheduled_lists}
            digest_scheduler = DigestScheduler(
                crons, settings.timezone, svc.run_list,
                poll=svc.poll_feeds if settings.feeds else None, poll_minutes=settings.feed_poll_minutes,
            )
            digest_scheduler.also("prune", settings.prune_cron, lambda: _prune(svc))
            digest_scheduler.also("list counts", LIST_COUNTS_CRON, lambda: _count_lists(svc))
            digest_scheduler.start()
            await digest_scheduler.catch_up(svc.clock())
        if demo_data:
            background.append(asyncio.create_task(_announce_demo(svc)))
        config = server_config(
            create_app(svc), host=settings.web_host, port=settings.web_port, log_level=settings.log_level.lower(),
            log_config=None if settings.log_format == "json" else LOGGING_CONFIG,  # JSON: uvicorn's lines too
        )
        logging.getLogger(__name__).info("web app on http://%s:%d", settings.web_host, settings.web_port)
        if settings.metrics_address:
            background.append(asyncio.create_task(_serve_metrics(svc, settings.metrics_address, config)))
        freeze_startup()  # the app, templates and mappers are built: keep them out of full collections
        await uvicorn.Server(config).serve()
    finally:
        stop.set()
        for task in background[1:]:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if digest_scheduler is not None:
            digest_scheduler.shutdown()
        await svc.close()


async def _serve_metrics(svc: Service, address: str, main: Any) -> None:
    """``/metrics`` and ``/readyz`` on ``MAILER_METRICS_ADDRESS``, stopped with the main server
    (whose signal handlers stop the whole process)."""
    import uvicorn

    from mailer.web.app import server_config
    from mailer.web.ops import metrics_app

    class Quiet(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:  # the main server owns the signals
            yield

    host, _, port = address.rpartition(":")
    config = server_config(metrics_app(svc), host=host.strip("[]"), port=int(port), log_level=main.log_level,
                           log_config=main.log_config, access_log=False)
    logging.getLogger(__name__).info("metrics on http://%s/metrics", address)
    await Quiet(config).serve()


async def _prune(svc: Service) -> None:
    from mailer.ops.prune import prune

    logging.getLogger(__name__).info("pruned: %s", (await prune(svc.db, svc.settings, svc.clock())).describe())


async def _count_lists(svc: Service) -> None:
    """Today's confirmed subscribers per list, for the console's dashboard (``subscribers.history``);
    and the counts of the days that closed since, so that no page view pays for counting them."""
    from mailer.editor import localdays, stats
    from subscribers import history

    now, tz = svc.clock(), svc.settings.tz
    async with svc.db.transaction() as session:
        await history.record(session, svc.settings.lists, now.astimezone(tz).date(), now)
    async with svc.db.transaction() as session:
        await stats.daily(session, tz, localdays.last_days(now, tz, max(stats.PERIODS)), now)


async def _announce_demo(svc: Service) -> None:
    """Tell the newcomer where the demo digest went once the sender has delivered it."""
    for _ in range(120):
        async with svc.db.transaction() as session:
            counts = await outbox.counts(session)
        if any(c.get("sent") for c in counts.values()):
            point_at_mailbox(svc.settings)
            return
        await asyncio.sleep(0.5)
