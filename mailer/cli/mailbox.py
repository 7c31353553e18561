"""``mailer mailbox``: read the built-in development mailbox."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from mailer.cli.common import console, err, settings_of
from mailer.delivery.devmailbox import read_mailbox

app = typer.Typer(help="The built-in development mailbox.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="mailbox")


@app.command("list")
def mailbox_list(ctx: typer.Context) -> None:
    """Messages in the development mailbox, oldest first."""
    settings = settings_of(ctx)
    table = Table("#", "date", "to", "subject")
    for n, msg in enumerate(read_mailbox(settings.data_dir), start=1):
        table.add_row(str(n), msg.date, msg.to, msg.subject)
    console.print(table)


@app.command("show")
def mailbox_show(
    ctx: typer.Context,
    number: int = typer.Argument(..., help="The # from `mailer mailbox list`."),
    html: Path | None = typer.Option(None, "--html", help="Also write the HTML part to this file."),
    raw: bool = typer.Option(False, "--raw", help="Print the whole message as received."),
) -> None:
    """Show one message of the development mailbox: headers and the plain-text part."""
    settings = settings_of(ctx)
    messages = read_mailbox(settings.data_dir)
    if not 1 <= number <= len(messages):
        err.print(f"[red]error:[/red] NUMBER: there are {len(messages)} messages; {number} is not one of them")
        raise typer.Exit(2)
    msg = messages[number - 1]
    if raw:
        sys.stdout.buffer.write(msg.raw)
        return
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe"):
        if msg.message.get(name):
            console.print(f"[bold]{name}:[/bold] {msg.message[name]}", highlight=False)
    console.print()
    console.print(msg.body("plain"), highlight=False)
    if html is not None:
        html.write_text(msg.body("html"), encoding="utf-8")
        console.print(f"HTML part written to {html}")
