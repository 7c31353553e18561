"""``mailer worker``, ``mailer dkim keygen`` and ``mailer bounces process``: the delivery engine
from the command line."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import typer

from mailer.cli.common import console, err, run, settings_of
from mailer.core.settings import Settings

log = logging.getLogger(__name__)

dkim_app = typer.Typer(help="DKIM signing keys.", no_args_is_help=True)
bounces_app = typer.Typer(help="Bounces and spam complaints.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
    app.add_typer(dkim_app, name="dkim")
    app.add_typer(bounces_app, name="bounces")


def worker_command(
    ctx: typer.Context,
    name: str | None = typer.Option(
        None, "--name", help="This worker's name in lease records (default: host:pid); unique per process."
    ),
    poll: float = typer.Option(2.0, "--poll", min=0.05, help="Seconds between looks at an empty outbox."),
) -> None:
    """Send from the outbox until stopped (no web app, no scheduler).

    Run any number of workers on any number of machines sharing the database. Rows of a worker
    that died are taken over once their lease expires. SIGTERM or Ctrl-C stops after the batch.
    """

    settings = settings_of(ctx)
    asyncio.run(_work(settings, name, poll))


async def _work(settings: Settings, name: str | None, poll: float) -> None:
    from mailer.delivery.sender import worker_name
    from mailer.delivery.service import Service

    svc = await Service(settings, worker_name=name or worker_name()).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        log.info("worker %s started on %s", svc.sender.owner, svc.db.dialect)
        await svc.sender_loop(stop, idle_seconds=poll)
    finally:
        await svc.close()
    log.info("worker %s stopped", svc.sender.owner)


@dkim_app.command("keygen")
def dkim_keygen(
    ctx: typer.Context,
    selector: str = typer.Option(..., "--selector", help="The DKIM selector, e.g. mail2026 (MAILER_DKIM_SELECTOR)."),
    domain: str | None = typer.Option(None, "--domain", help="Signing domain (default: the sender address's)."),
    out: Path = typer.Option(Path("dkim.key"), "--out", help="Where to write the private key (never overwritten)."),
    bits: int = typer.Option(2048, "--bits", min=2048, max=4096, help="RSA key size."),
) -> None:
    """Write a new RSA private key and print the DNS TXT record to publish for it."""
    from mailer.delivery import dkim

    settings = settings_of(ctx)
    domain = domain or settings.mail_domain
    pem = dkim.generate_key(bits)
    try:
        dkim.write_key(out, pem)
    except FileExistsError:
        err.print(f"[red]error:[/red] --out: {out} exists; pick another file (a key is never overwritten)")
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]error:[/red] --out: cannot write {out}: {exc.strerror}")
        raise typer.Exit(2) from None
    console.print(f"wrote a {bits}-bit RSA key to {out} (readable by its owner only)")
    console.print("publish this DNS record:")
    console.print(dkim.dns_record(selector, domain, pem), highlight=False, soft_wrap=True)
    console.print("then set:")
    console.print(f"MAILER_DKIM_SELECTOR={selector}\nMAILER_DKIM_KEY_FILE={out.resolve()}", highlight=False)
    if domain != settings.mail_domain:
        console.print(f"MAILER_DKIM_DOMAIN={domain}", highlight=False)


@bounces_app.command("process")
def bounces_process(
    ctx: typer.Context,
    mailbox: str | None = typer.Option(
        None, "--mailbox",
        help="maildir:/path, pop3s://user:pass@host or imaps://user:pass@host/INBOX (MAILER_BOUNCE_MAILBOX).",
    ),
) -> None:
    """Read bounces (DSNs) and complaints (ARF) from the bounce mailbox and act on each.

    Bounces are scored (a subscriber is disabled at MAILER_BOUNCE_THRESHOLD), complaints
    suppress at once. Handled messages are deleted; others are left, marked seen.
    """
    from rich.table import Table

    from mailer.core.urls import parse_mailbox_url
    from mailer.delivery.service import Service
    from mailer.events import bounces
    from mailer.events.mailboxes import open_source

    settings = settings_of(ctx)
    url = mailbox or settings.bounce_mailbox
    if not url:
        err.print("[red]error:[/red] --mailbox: no bounce mailbox given (or set MAILER_BOUNCE_MAILBOX)")
        raise typer.Exit(2)
    try:
        config = parse_mailbox_url(url)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --mailbox: {exc}")
        raise typer.Exit(2) from None

    async def job(svc: Service) -> dict[str, int]:
        try:
            source = await asyncio.to_thread(open_source, config)
        except OSError as exc:
            err.print(f"[red]error:[/red] --mailbox: cannot open {config!r}: {exc}")
            raise typer.Exit(1) from None
        try:
            return dict(await bounces.process_source(svc.db, settings, source, svc.clock))
        finally:
            await asyncio.to_thread(source.close)

    totals = run(settings, job)
    table = Table("outcome", "messages")
    for action, count in sorted(totals.items()):
        table.add_row(action, str(count))
    console.print(table if totals else "no messages waiting")
