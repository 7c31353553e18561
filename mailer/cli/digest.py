"""``mailer digest send`` and ``mailer editions``: make an edition now, see how each went, and
resume one the circuit breaker paused."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from mailer.cli.common import console, err, fail, run, settings_of
from mailer.core.models import Edition
from mailer.delivery import breaker, outbox
from mailer.delivery.service import Service
from mailer.ops import checks

app = typer.Typer(help="Digests: plan and send editions.", no_args_is_help=True)
editions_app = typer.Typer(help="Editions: how each went; resume a paused one.", invoke_without_command=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="digest")
    root.add_typer(editions_app, name="editions")


async def _finish_with_progress(svc: Service, edition: Edition) -> outbox.Progress:
    """Send ``edition`` to the end with a progress bar of its own rows only."""
    columns = (TextColumn(f"edition {edition.id}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("send", total=None)

        def show(state: outbox.Progress) -> None:
            bar.update(task, total=sum(state.counts.values()) or None, completed=state.done)

        return await svc.finish(edition.id, show)


def _report(edition: Edition, state: outbox.Progress, waiting: tuple[int, str | None]) -> bool:
    """Print how the edition went; False if it needs an operator or messages wait for a retry."""
    counts = {what: n for what, n in outbox.shown_counts(state.counts).items() if n}
    console.print(f"edition {edition.id}: " + (", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
                                                or "no recipients"))
    if state.status == "paused":
        err.print(f"[red]edition {edition.id} is paused:[/red] {state.reason}", highlight=False)
        return False
    left, reason = waiting
    if state.status == "sending" and left:
        when = f" (the next at {state.next_retry:%Y-%m-%d %H:%M} UTC)" if state.next_retry else ""
        err.print(f"{left} message(s) not delivered yet, to be retried by `mailer serve` or `mailer worker`"
                  f"{when}: {reason or 'no reason recorded'}", highlight=False)
        return False
    return True


@app.command("send")
def digest_send(
    ctx: typer.Context,
    now: bool = typer.Option(False, "--now", help="Make and send an edition right now."),
    list_name: str | None = typer.Option(
        None, "--list", help="Which list (a key of the settings' lists; default: the first scheduled one)."),
) -> None:
    """Send a digest on demand, with a progress bar, and wait until it has gone out.

    It carries the articles no edition of the list has carried yet, in the order and without
    the articles an editor dropped from the list's next edition. An edition of the list that a
    process left unfinished (it crashed, or was stopped) is finished first."""
    if not now:
        err.print("nothing to do: scheduled editions are sent by `mailer serve`; use --now to send one now")
        raise typer.Exit(2)
    settings = settings_of(ctx)
    scheduled = settings.scheduled_lists
    list_name = list_name or (scheduled[0] if scheduled else "")
    if list_name not in scheduled:
        immediate = " (an immediate list gets breaking news, not digests)" if list_name in settings.lists else ""
        fail(f"--list: {list_name!r} is not one of the scheduled lists ({', '.join(scheduled)}){immediate}")

    async def job(svc: Service) -> bool:
        if settings.smtp is not None:  # a relay that does not answer: say so before queueing anything
            greeting = (await checks.relay(settings.smtp, timeout=settings.smtp_timeout, login=False))[0]
            if not greeting.ok:
                fail(f"MAILER_SMTP_URL: the relay could not be reached ({greeting.detail}); nothing was queued", 1)
        todo = await svc.unfinished(list_name)
        for edition in todo:
            console.print(f"edition {edition.id} ({edition.list_name} {edition.period_key}) was left "
                          "unfinished: sending the rest")
        result = await svc.send_now(list_name)
        console.print(result.describe())
        if result.action == "sending" and result.edition is not None:
            todo.append(result.edition)
        fine = True
        for edition in todo:
            state = await _finish_with_progress(svc, edition)
            async with svc.db.transaction() as session:
                waiting = await outbox.waiting(session, edition.id)
            fine = _report(edition, state, waiting) and fine
        return fine

    if not run(settings, job):
        raise typer.Exit(1)


@editions_app.callback()
def editions_command(
    ctx: typer.Context, limit: int = typer.Option(20, help="How many, newest first.")
) -> None:
    """List editions with their rows: sent / skipped / failed / unknown / pending / dead."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_of(ctx)

    async def job(svc: Service) -> tuple[list[Edition], dict[int, dict[str, int]]]:
        async with svc.db.transaction() as session:
            rows = list(await session.scalars(select(Edition).order_by(Edition.id.desc()).limit(limit)))
            return rows, await outbox.counts(session, [e.id for e in rows])

    rows, counts = run(settings, job)
    table = Table("id", "list", "period", "status", *outbox.SHOWN)
    for e in rows:
        shown = outbox.shown_counts(counts.get(e.id, {}))
        table.add_row(str(e.id), e.list_name, e.period_key, e.status, *(str(shown[s]) for s in outbox.SHOWN))
    console.print(table)
    for e in rows:
        if e.status in ("paused", "held") and e.status_reason:
            console.print(f"edition {e.id} is {e.status}: {e.status_reason}", highlight=False)


@editions_app.command("resume")
def resume_command(ctx: typer.Context, edition_id: int = typer.Argument(..., help="The paused edition's id.")) -> None:
    """Resume an edition the circuit breaker paused (once the cause of the refusals is fixed);
    `mailer serve`, `mailer worker` or `mailer digest send --now` then sends the rest."""
    settings = settings_of(ctx)

    async def job(svc: Service) -> int:
        async with svc.db.transaction() as session:
            return await breaker.resume(session, edition_id, svc.clock())

    due = run(settings, job)
    console.print(f"edition {edition_id} is sending again: {due} messages are due now")
