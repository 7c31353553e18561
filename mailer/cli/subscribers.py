"""``mailer subscribers ...``: import and export CSV, list, show, remove and forget subscribers,
and read ``mailto:`` unsubscribes from a Maildir."""

from __future__ import annotations

import asyncio
import csv
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from mailer.cli.common import console, err, fail, run, settings_of
from mailer.core.errors import InvalidInput, NotFound
from mailer.core.models import OutboxMessage
from mailer.delivery import outbox
from mailer.delivery.devmailbox import maildir_path
from mailer.delivery.notifier import Notifier
from mailer.delivery.service import Service
from subscribers import flows, importer, store, suppression
from subscribers.addresses import check
from subscribers.import_reader import ChunkReader
from subscribers.models import STATUSES, Confirmation, Subscriber

app = typer.Typer(help="Subscribers: import, export, look up, remove and forget.", no_args_is_help=True)

CHUNK = 500
IMPORT_CHUNK = 5000  # rows parsed at a time, per existence and suppression look-up and per multi-row INSERT
SHOWN_PROBLEMS = 20  # bad or suppressed rows printed; the rest are counted (and written with --problems)
ANALYZE_AFTER = 10_000  # rows added by an import after which the planner's statistics are refreshed
STATUS_HELP = f"Only subscribers in this status: {', '.join(STATUSES)}."


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="subscribers")


def _check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        fail(f"--status: {status!r} is not one of {', '.join(STATUSES)}")


@app.command("import")
def import_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="UTF-8 CSV; first line names the columns: email (required), "
                                         "name, lists (keys or names, separated by |), sections (names, the same)."),
    confirmed: bool = typer.Option(
        False, "--confirmed",
        help="Add new addresses as confirmed, with no confirmation mail. Only for a list whose "
             "consent you can vouch for; without it every new address gets a confirmation link.",
    ),
    problems_file: Path | None = typer.Option(
        None, "--problems", metavar="CSV",
        help="Write every bad or suppressed row to this CSV file (line, column, problem); the "
             "terminal shows the first 20 and the counts.",
    ),
) -> None:
    """Import subscribers from a CSV file, with a progress bar.

    Bad rows are reported with their line number and skipped (the first 20 on the terminal,
    with the count by column; every one with --problems); the rest are imported a chunk of
    5,000 rows at a time, each chunk committed as it is written, in the same memory whatever the
    file's size and however many rows are bad. Importing the same file again changes nothing,
    and finishes an import that was stopped half-way. Exits with 1 when any row was bad.
    """
    if not file.is_file():
        fail(f"FILE: {str(file)!r} does not exist")
    settings = settings_of(ctx)
    size = file.stat().st_size
    report = importer.Report(keep=SHOWN_PROBLEMS)
    try:
        out = problems_file.open("w", encoding="utf-8", newline="") if problems_file else None
    except OSError as exc:
        fail(f"--problems: cannot write {str(problems_file)!r}: {exc.strerror}")
    written = csv.writer(out) if out else None
    if written:
        written.writerow(["line", "column", "problem"])

    def note(found: list[importer.Problem]) -> None:
        found.sort(key=lambda p: p.line)
        report.add(found)
        if written:
            written.writerows([p.line, importer.escape_cell(p.column),
                               importer.escape_cell(p.message)] for p in found)

    async def job(svc: Service) -> Counter[str]:
        async with svc.db.transaction() as session:
            sections = {name: id_ for id_, name in (await store.section_names(session)).items()}
        total: Counter[str] = Counter()
        notify = Notifier(settings, svc.renderer)
        now = svc.clock()
        columns = (TextColumn("importing"), BarColumn(), TimeElapsedColumn())
        reader = ChunkReader(file, lists=settings.lists, sections=sections, smtputf8=settings.relay_smtputf8,
                             size=IMPORT_CHUNK, now=now, confirmed=confirmed)
        with reader, Progress(*columns, console=err) as progress:
            task = progress.add_task("import", total=size)
            # a transaction a chunk, each in the database's turn: on SQLite the site's and the
            # sender's writes come between two chunks instead of waiting for the whole file (and
            # failing after the 30 s busy timeout); the next chunk is read and prepared (in another
            # process) while this one is written. One connection throughout: ``Seen``'s table.
            async with svc.db.pinned() as session:
                seen = await importer.Seen.start(session)
                await session.commit()
                last = 0  # the last line of the chunks committed
                try:
                    while (chunk := await reader.next()) is not None:
                        async with svc.db.turn():
                            rows = await seen.first(session, chunk.parsed)
                            done = await importer.apply(session, settings, rows, now=now, confirmed=confirmed,
                                                        notify=notify, prepared=chunk.prepared)
                            await session.commit()
                        note(chunk.parsed.problems + done.skipped)
                        total.update(added=done.added, existing=done.existing, suppressed=len(done.skipped),
                                     bad=len(chunk.parsed.problems))
                        last = max(last, chunk.parsed.last_line)
                        progress.update(task, completed=chunk.position)
                except BaseException:
                    await session.rollback()
                    if last:
                        err.print(f"stopped after line {last}: the {total['added']} subscribers added from "
                                  "the lines before it stay; importing the file again adds the rest (the "
                                  "others count as already there)", highlight=False, soft_wrap=True)
                    raise
                await seen.close(session)
                await session.commit()
            if total["added"] >= ANALYZE_AFTER:
                async with svc.db.transaction() as session:
                    await store.analyze(session)
        return total

    try:
        counts = run(settings, job)
    finally:
        if out:
            out.close()
    for problem in report.first:
        err.print(f"[yellow]{problem}[/yellow]", highlight=False, soft_wrap=True)
    if report.more:
        by_column = ", ".join(f"{column} {n}" for column, n in sorted(report.by_column.items(), key=lambda kv: -kv[1]))
        where = f"every one is in {problems_file}" if problems_file else "--problems FILE writes every one"
        err.print(f"[yellow]... and {report.more} more ({report.total} in all, by column: {by_column}); "
                  f"{where}[/yellow]", highlight=False, soft_wrap=True)
    console.print(
        f"{counts['added']} added, {counts['existing']} already there, {counts['suppressed']} suppressed, "
        f"{counts['bad']} bad rows", soft_wrap=True,
    )
    if counts["added"]:
        console.print("the new subscribers are confirmed" if confirmed else
                      "the new subscribers are pending: each has a confirmation mail queued", soft_wrap=True)
    if counts["bad"]:
        raise typer.Exit(1)


@app.command("export")
def export_command(
    ctx: typer.Context,
    file: Path | None = typer.Argument(None, help="Where to write the CSV; standard output if omitted."),
    status: str | None = typer.Option(None, "--status", help=STATUS_HELP),
    bom: bool = typer.Option(False, "--bom", help="Start with a UTF-8 BOM, so Excel shows Arabic right."),
) -> None:
    """Write subscribers as UTF-8 CSV.

    Cells a spreadsheet would run as a formula are prefixed with ' ; importing the file back
    undoes it.
    """
    _check_status(status)
    settings = settings_of(ctx)

    async def job(svc: Service) -> int:
        out = file.open("w", encoding="utf-8", newline="") if file else sys.stdout
        try:
            if bom:
                out.write("\ufeff")
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(importer.EXPORT_COLUMNS)
            async with svc.db.transaction() as session:
                count = await importer.export(session, writer.writerows, status=status)
            return count
        finally:
            if file:
                out.close()

    count = run(settings, job)
    if file:
        console.print(f"{count} subscribers written to {file}")


@app.command("list")
def list_command(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status", help=STATUS_HELP),
    limit: int = typer.Option(50, help="How many at most."),
    after: int = typer.Option(0, help="Start after this id (for the next page)."),
) -> None:
    """List subscribers in id order, a page at a time."""
    _check_status(status)
    settings = settings_of(ctx)

    async def job(svc: Service) -> tuple[list[Subscriber], dict[int, frozenset[str]]]:
        async with svc.db.transaction() as session:
            subs = await store.page(session, status=status, after_id=after, limit=limit)
            return subs, await store.lists_of(session, [s.id for s in subs])

    table = Table("id", "email", "name", "status", "lists", "source", "created")
    subs, taken = run(settings, job)
    for sub in subs:
        table.add_row(str(sub.id), sub.email, sub.name or "", sub.status, ", ".join(sorted(taken.get(sub.id, ()))),
                      sub.source or "", sub.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@app.command("show")
def show_command(ctx: typer.Context, address: str = typer.Argument(..., help="The subscriber's address.")) -> None:
    """Show one subscriber: status, choices, suppression, open links, latest messages."""
    settings = settings_of(ctx)

    async def job(svc: Service) -> tuple[Subscriber | None, list[str], str | None, int, list[Any], list[str]]:
        async with svc.db.transaction() as session:
            sub = await store.by_email(session, address)
            reason = await suppression.reason_for(session, address)
            if sub is None:
                return None, [], reason, 0, [], []
            lists = sorted((await store.lists_of(session, [sub.id])).get(sub.id, ()))
            names = await store.section_names(session)
            chosen = (await store.sections_of(session, [sub.id])).get(sub.id, frozenset())
            pending = len(list(await session.scalars(select(Confirmation.id).where(
                Confirmation.subscriber_id == sub.id, Confirmation.used_at.is_(None),
                Confirmation.expires_at > svc.clock()))))
            rows = list((await session.execute(
                select(OutboxMessage.kind, OutboxMessage.status, OutboxMessage.created_at,
                       OutboxMessage.last_code)
                .where(OutboxMessage.subscriber_id == sub.id).order_by(OutboxMessage.id.desc()).limit(10)
            )).all())
            return sub, sorted(names.get(i, str(i)) for i in chosen), reason, pending, rows, lists

    sub, sections, reason, pending, rows, lists = run(settings, job)
    if sub is None:
        extra = f" (suppressed: {reason})" if reason else ""
        fail(f"ADDRESS: no subscriber with that address{extra}", 1)
    table = Table("field", "value", show_header=False)
    for field, value in (
        ("id", sub.id), ("email", sub.email), ("smtp address", sub.email_ascii or sub.email),
        ("name", sub.name or ""), ("status", sub.status), ("lists", ", ".join(lists) or "none"),
        ("sections", ", ".join(sections) or "all"), ("source", sub.source or ""),
        ("created", sub.created_at.isoformat()), ("confirmed", sub.confirmed_at or ""),
        ("unsubscribed", sub.unsubscribed_at or ""), ("suppressed", reason or "no"),
        ("open confirmation links", pending), ("bounces", sub.bounce_score),
    ):
        table.add_row(field, str(value))
    console.print(table)
    if rows:
        recent = Table("kind", "status", "queued", "last code", title="latest messages")
        for kind, status, created, code in rows:
            recent.add_row(kind, status, created.strftime("%Y-%m-%d %H:%M"), str(code or ""))
        console.print(recent)


@app.command("remove")
def remove_command(ctx: typer.Context, address: str = typer.Argument(..., help="The subscriber's address.")) -> None:
    """Unsubscribe someone on their behalf and suppress the address.

    For a request by phone or letter: no more mail goes to the address; the record stays.
    To erase the person, use `forget`.
    """
    settings = settings_of(ctx)

    async def job(svc: Service) -> str:
        async with svc.db.transaction() as session:
            sub = await store.by_email(session, address)
            if sub is None:
                raise NotFound("ADDRESS: no subscriber with that address")
            await flows.unsubscribe(session, sub.id, svc.clock())
            return sub.email

    email = run(settings, job)
    console.print(f"{email} unsubscribed and suppressed")


@app.command("forget")
def forget_command(
    ctx: typer.Context,
    address: str = typer.Argument(..., help="The address to erase."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Erase a person's data; keep only a hash of the address, suppressed.

    The subscriber record, their choices and links go, and the address is cleared from the
    outbox; the hash on the suppression list makes sure they are never mailed again.
    """
    try:
        check(address)
    except InvalidInput as exc:
        fail(f"ADDRESS: {exc.message.removeprefix('email: ')}")
    if not yes:
        typer.confirm(f"Erase everything about {address}? This cannot be undone", abort=True)
    settings = settings_of(ctx)

    async def job(svc: Service) -> flows.Forgotten:
        async with svc.db.transaction() as session:
            return await flows.forget(session, address, erase=outbox.erase)

    forgotten = run(settings, job)
    who = "subscriber erased" if forgotten.subscriber_id else "no subscriber had that address"
    console.print(f"{who}; {forgotten.erased} outbox rows cleared; "
                         "the address hash is on the suppression list", soft_wrap=True)


@app.command("unsubscribe-mail")
def unsubscribe_mail_command(
    ctx: typer.Context,
    maildir: Path | None = typer.Argument(
        None, help="Maildir that receives mail to MAILER_UNSUBSCRIBE_ADDRESS; default: the development mailbox."),
    watch: float = typer.Option(0, "--watch", help="Keep checking every this many seconds (0: once)."),
) -> None:
    """Process mailto: unsubscribes delivered to a Maildir.

    Each unseen message to MAILER_UNSUBSCRIBE_ADDRESS whose subject holds a valid token
    unsubscribes its subscriber; every such message is then marked seen.
    """
    from mailer.events.unsubscribe_mail import process_maildir

    settings = settings_of(ctx)
    path = maildir or maildir_path(settings.data_dir)

    async def job(svc: Service) -> None:
        while True:
            done = await process_maildir(svc, path)
            if done.unsubscribed or done.invalid or not watch:
                console.print(f"{done.unsubscribed} unsubscribed, {done.invalid} without a valid token")
            if not watch:
                return
            await asyncio.sleep(watch)

    run(settings, job)
