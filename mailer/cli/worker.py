"""``mailer worker``: the sender alone, for as many processes and machines as the database serves."""

from __future__ import annotations

import asyncio
import logging
import signal

import typer

from mailer.cli.common import settings_of
from mailer.core import loop
from mailer.core.heap import freeze_startup
from mailer.core.settings import Settings

log = logging.getLogger(__name__)


def register(root: typer.Typer) -> None:
    root.command("worker")(worker_command)


def worker_command(
    ctx: typer.Context,
    name: str | None = typer.Option(
        None, "--name", help="A label for this worker in lease records: NAME@host:pid (default: host:pid)."
    ),
    poll: float = typer.Option(2.0, "--poll", min=0.05, help="Seconds between looks at an empty outbox."),
    metrics_address: str | None = typer.Option(
        None, "--metrics-address", help="Serve this worker's counters on HOST:PORT (MAILER_METRICS_ADDRESS)."
    ),
) -> None:
    """Send from the outbox until stopped (no web app, no scheduler).

    Run any number of workers on any number of machines sharing the database. Rows of a worker
    of this host that died are taken over at once, those of other hosts once their lease
    expires. SIGTERM or Ctrl-C stops after the batch.
    """

    settings = settings_of(ctx, metrics_address=metrics_address)
    loop.run(_work(settings, name, poll))


async def _work(settings: Settings, name: str | None, poll: float) -> None:
    from mailer.delivery.sender import worker_name
    from mailer.delivery.service import Service

    svc = await Service(settings, worker_name=worker_name(name)).start()
    freeze_startup()
    if settings.metrics_address:  # this process's counters; the database's are on `serve`
        from prometheus_client import start_http_server

        from mailer.core.metrics import PROCESS

        host, _, port = settings.metrics_address.rpartition(":")
        start_http_server(int(port), host.strip("[]"), registry=PROCESS)
        log.info("metrics on http://%s/metrics", settings.metrics_address)
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(signum, stop.set)
    try:
        log.info("worker %s started on %s", svc.sender.owner, svc.db.dialect)
        await svc.sender_loop(stop, idle_seconds=poll)
    finally:
        await svc.close()
    log.info("worker %s stopped", svc.sender.owner)
