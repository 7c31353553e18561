"""``mailer preview KIND [REF]``: the editor pages' preview in the terminal, written to files
(``--out`` the HTML part, ``--eml`` the whole message) for editors who work from a shell."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import typer
from rich.table import Table

from mailer.cli.common import console, run, settings_of
from mailer.compose.message import to_bytes
from mailer.delivery.service import Service
from mailer.editor.checks import Check, part_text
from mailer.editor.previews import Preview, Previews

STYLE = {"ok": "green", "info": "blue", "warn": "yellow", "error": "red"}


def register(root: typer.Typer) -> None:
    root.command("preview")(preview)


def preview(
    ctx: typer.Context,
    kind: str = typer.Argument(
        ..., help="digest (REF: a scheduled list, its next edition), edition (REF: its id), share or "
                  "alert (REF: the article id), confirm, confirm_address or welcome (REF: a list)."),
    ref: str | None = typer.Argument(None, help="What to preview; see KIND."),
    out: Path | None = typer.Option(None, "--out", help="Write the HTML part to this file."),
    eml: Path | None = typer.Option(None, "--eml", help="Write the whole message (.eml) to this file."),
    as_: str | None = typer.Option(None, "--as", help="Preview as this subscriber (name, sections)."),
    variant: str | None = typer.Option(None, "--variant", help="Digest variant key, e.g. 'all' or '2,5'."),
    spam: bool = typer.Option(True, "--spam/--no-spam", help="Run SpamAssassin when installed."),
) -> None:
    """Show an e-mail as it will be sent: headers, checks, and the HTML or .eml as files."""

    settings = settings_of(ctx)
    options = {k: v for k, v in (("as", as_), ("variant", variant)) if v}

    async def job(svc: Service) -> tuple[Preview, bytes, str, str, list[Check]]:
        previews = Previews(settings, svc.renderer)
        shown = await previews.build(svc.db, kind, ref or previews.default_ref(kind), options, svc.clock())
        msg = previews.shown(shown)
        checks = await previews.checks(shown, msg, spam=spam)
        return shown, to_bytes(msg), part_text(msg, "html"), part_text(msg, "plain"), checks

    shown, data, html, text, checks = run(settings, job)
    console.print(f"[bold]{shown.title}[/bold]", highlight=False)
    msg = message_from_bytes(data, policy=policy.default)
    for name in ("From", "To", "Subject", "Date", "List-Id", "List-Unsubscribe"):
        if msg.get(name):
            console.print(f"[bold]{name}:[/bold] {msg[name]}", highlight=False)
    if shown.digest is not None:
        d = shown.digest
        console.print(f"[bold]status:[/bold] {d.status}  [bold]scheduled:[/bold] {d.scheduled_text}  "
                      f"[bold]recipients:[/bold] {d.recipients}", highlight=False)
        if not d.articles:
            console.print("  no articles: at its time this edition is skipped as empty")
        for n, article in enumerate(d.articles, start=1):
            console.print(f"  {n}. [{article.section or '-'}] {article.title}", highlight=False, markup=False)
    table = Table("check", "result")
    for check in checks:
        table.add_row(check.name, f"[{STYLE[check.level]}]{check.message}[/]")
    console.print(table)
    if out is not None:
        out.write_text(html, encoding="utf-8")
        console.print(f"HTML part written to {out}")
    if eml is not None:
        eml.write_bytes(data)
        console.print(f"message written to {eml}")
    if out is None and eml is None:
        console.print(text, highlight=False, markup=False)
