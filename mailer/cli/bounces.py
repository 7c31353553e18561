"""``mailer bounces process``: read the bounce mailbox and act on each report."""

from __future__ import annotations

import asyncio

import typer

from mailer.cli.common import console, err, run, settings_of

app = typer.Typer(help="Bounces and spam complaints.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="bounces")


@app.command("process")
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
