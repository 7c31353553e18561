"""``mailer digest send`` and ``mailer editions``: make an edition now, and see how each went."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from mailer.cli.common import console, err, fail, run, settings_of
from mailer.core.models import Edition
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.ops import checks

app = typer.Typer(help="Digests: plan and send editions.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="digest")
    root.command("editions")(editions_command)


async def _drain_with_progress(svc: Service, total: int) -> dict[str, int]:
    columns = (TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("send", total=total or None)
        totals = await svc.sender.drain(lambda batch: progress.advance(task, sum(batch.values())))
    return dict(totals)


@app.command("send")
def digest_send(
    ctx: typer.Context,
    now: bool = typer.Option(False, "--now", help="Make and send an edition right now."),
    list_name: str | None = typer.Option(
        None, "--list", help="Which list (a key of the settings' lists; default: the first scheduled one)."),
) -> None:
    """Send a digest on demand, with a progress bar, and wait until it has gone out."""
    if not now:
        err.print("nothing to do: scheduled editions are sent by `mailer serve`; use --now to send one now")
        raise typer.Exit(2)
    settings = settings_of(ctx)
    scheduled = settings.scheduled_lists
    list_name = list_name or (scheduled[0] if scheduled else "")
    if list_name not in scheduled:
        immediate = " (an immediate list gets breaking news, not digests)" if list_name in settings.lists else ""
        fail(f"--list: {list_name!r} is not one of the scheduled lists ({', '.join(scheduled)}){immediate}")

    async def job(svc: Service) -> tuple[dict[str, int], tuple[int, str | None]]:
        if settings.smtp is not None:  # a relay that does not answer: say so before queueing anything
            greeting = (await checks.relay(settings.smtp, timeout=settings.smtp_timeout, login=False))[0]
            if not greeting.ok:
                fail(f"MAILER_SMTP_URL: the relay could not be reached ({greeting.detail}); nothing was queued", 1)
        result = await svc.send_now(list_name)
        console.print(result.describe())
        if result.action != "sending":
            return {}, (0, None)
        totals = await _drain_with_progress(svc, result.enqueued)
        async with svc.db.transaction() as session:
            return totals, await outbox.waiting(session, result.edition.id)

    totals, (waiting, reason) = run(settings, job)
    if totals:
        console.print(", ".join(f"{n} {what}" for what, n in sorted(totals.items())))
    if waiting:
        fail(f"{waiting} message(s) not delivered yet, to be retried by `mailer serve` or `mailer worker`: "
             f"{reason or 'no reason recorded'}", 1)


def editions_command(
    ctx: typer.Context, limit: int = typer.Option(20, help="How many, newest first.")
) -> None:
    """List editions with their sent / pending / failed counts."""
    settings = settings_of(ctx)

    async def job(svc: Service) -> tuple[list[Edition], dict[int, dict[str, int]]]:
        async with svc.db.transaction() as session:
            rows = list(await session.scalars(select(Edition).order_by(Edition.id.desc()).limit(limit)))
            return rows, await outbox.counts(session, [e.id for e in rows])

    rows, counts = run(settings, job)
    table = Table("id", "list", "period", "status", "sent", "pending", "failed", "unknown", "dead", "other")
    for e in rows:
        c = counts.get(e.id, {})
        shown = ("sent", "pending", "sending", "failed", "unknown", "dead")
        other = sum(n for k, n in c.items() if k not in shown)
        table.add_row(str(e.id), e.list_name, e.period_key, e.status, str(c.get("sent", 0)),
                      str(c.get("pending", 0) + c.get("sending", 0)), str(c.get("failed", 0)),
                      str(c.get("unknown", 0)), str(c.get("dead", 0)), str(other))
    console.print(table)
