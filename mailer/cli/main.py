"""The ``mailer`` command. Every command has ``--help``; settings come from ``--config FILE``
(TOML), then ``MAILER_*`` environment variables, then the command's own flags."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from mailer.articles import demo, ingest
from mailer.cli import delivery, editors, preview, shares, subscribers
from mailer.cli.common import console, err, run, settings_of
from mailer.core.errors import MailerError
from mailer.core.models import Edition
from mailer.core.settings import LISTS, Settings
from mailer.core.signing import Keyring
from mailer.delivery import outbox
from mailer.delivery.devmailbox import read_mailbox
from mailer.delivery.service import Service

app = typer.Typer(help="Arabic RTL newsletter digests and share-to-friend mail.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
digest_app = typer.Typer(help="Digests: plan and send editions.", no_args_is_help=True)
mailbox_app = typer.Typer(help="The built-in development mailbox.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(digest_app, name="digest")
app.add_typer(mailbox_app, name="mailbox")
app.add_typer(shares.app, name="shares")
app.add_typer(subscribers.app, name="subscribers")
app.add_typer(editors.app, name="editors")
app.command("preview")(preview.preview)
delivery.register(app)



@app.callback()
def main_options(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", envvar="MAILER_CONFIG", help="TOML file with settings (keys as in the README)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
) -> None:
    ctx.obj = {"config": config, "verbose": verbose}


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply every database migration (also done on every start)."""
    settings = settings_of(ctx)

    async def job(svc: Service) -> None:
        return None

    run(settings, job)
    console.print(f"database at head: {settings.database_url}")


@app.command("ingest")
def ingest_command(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="An RSS 2.0 or Atom feed: http(s) URL or file path."),
) -> None:
    """Store the articles of a feed; known articles are updated, never duplicated."""
    settings = settings_of(ctx)

    async def job(svc: Service) -> ingest.StoreResult:
        data = await ingest.read_source(source)
        parsed = ingest.parse_feed(data, now=svc.clock())
        for problem in parsed.problems:
            err.print(f"[yellow]skipped[/yellow] {problem}")
        async with svc.db.transaction() as session:
            return await ingest.store(session, parsed.articles)

    result = run(settings, job)
    console.print(f"{result.new} new, {result.updated} updated, {result.unchanged} unchanged")


async def _drain_with_progress(svc: Service, total: int) -> dict[str, int]:
    columns = (TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("send", total=total or None)
        totals = await svc.sender.drain(lambda batch: progress.advance(task, sum(batch.values())))
    return dict(totals)


@digest_app.command("send")
def digest_send(
    ctx: typer.Context,
    now: bool = typer.Option(False, "--now", help="Make and send an edition right now."),
    list_name: str = typer.Option("daily", "--list", help=f"Which list: {', '.join(LISTS)}."),
) -> None:
    """Send a digest on demand, with a progress bar, and wait until it has gone out."""
    if not now:
        err.print("nothing to do: scheduled editions are sent by `mailer serve`; use --now to send one now")
        raise typer.Exit(2)
    if list_name not in LISTS:
        err.print(f"[red]error:[/red] --list: {list_name!r} is not one of {', '.join(LISTS)}")
        raise typer.Exit(2)
    settings = settings_of(ctx)

    async def job(svc: Service) -> dict[str, int]:
        result = await svc.send_now(list_name)
        console.print(result.describe())
        if result.action != "sending":
            return {}
        return await _drain_with_progress(svc, result.enqueued)

    totals = run(settings, job)
    if totals:
        console.print(", ".join(f"{n} {what}" for what, n in sorted(totals.items())))


@app.command("editions")
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


@mailbox_app.command("list")
def mailbox_list(ctx: typer.Context) -> None:
    """Messages in the development mailbox, oldest first."""
    settings = settings_of(ctx)
    table = Table("#", "date", "to", "subject")
    for n, msg in enumerate(read_mailbox(settings.data_dir), start=1):
        table.add_row(str(n), msg.date, msg.to, msg.subject)
    console.print(table)


@mailbox_app.command("show")
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
        sys.stdout.write(msg.message.as_string())
        return
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe"):
        if msg.message.get(name):
            console.print(f"[bold]{name}:[/bold] {msg.message[name]}", highlight=False)
    console.print()
    console.print(msg.body("plain"), highlight=False)
    if html is not None:
        html.write_text(msg.body("html"), encoding="utf-8")
        console.print(f"HTML part written to {html}")


@app.command("settings")
def settings_command(ctx: typer.Context) -> None:
    """Print the effective settings (secrets hidden) and where each may be set."""
    settings = settings_of(ctx)
    table = Table("environment variable", "value")
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        shown = "********" if name in ("secret_key", "api_token") and value else str(value)
        if name == "secret_key" and value:
            shown += f" (key id {settings.keyring.key_ids[0]})"
        if name == "secret_key_previous":
            ids = [Keyring.of(k.get_secret_value()).key_ids[0] for k in value]
            shown = f"{len(ids)} (key ids {', '.join(ids)})" if ids else "none"
        if name == "smtp_url" and value:
            shown = repr(settings.smtp)
        table.add_row(f"MAILER_{name.upper()}", shown)
    console.print(table)


async def seed_demo(svc: Service) -> None:
    """Sample Arabic articles and one confirmed demo subscriber (idempotent)."""
    from subscribers import store

    now = svc.clock()
    parsed = ingest.parse_feed(demo.demo_feed("https://news.example.com", now), now=now)
    async with svc.db.transaction() as session:
        await ingest.store(session, parsed.articles)
        await store.add(session, "reader@example.com", now=now, name="قارئ تجريبي", status="confirmed")


@app.command("demo")
def demo_command(ctx: typer.Context) -> None:
    """Seed sample articles and a demo subscriber, send a digest now, show where it landed."""
    settings = settings_of(ctx)

    async def job(svc: Service) -> None:
        await seed_demo(svc)
        result = await svc.send_now("daily")
        console.print(result.describe())
        await svc.sender.drain()

    run(settings, job)
    _point_at_mailbox(settings)


def _point_at_mailbox(settings: Settings) -> None:
    if settings.smtp is None:
        count = len(read_mailbox(settings.data_dir))
        console.print(
            f"development mailbox: {count} message(s) in {settings.data_dir / 'devmailbox'}; "
            "read them with `mailer mailbox list` and `mailer mailbox show 1 --html digest.html`"
        )


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    demo_data: bool = typer.Option(False, "--demo", help="Seed sample data and send a demo digest at start."),
    host: str | None = typer.Option(None, help="Listen address (MAILER_WEB_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (MAILER_WEB_PORT)."),
    scheduler: bool = typer.Option(True, help="Run the digest scheduler in this process."),
) -> None:
    """The main job: the web app, the digest scheduler and the sender, in one process."""
    settings = settings_of(ctx, web_host=host, web_port=port)
    try:
        asyncio.run(_serve(settings, demo_data=demo_data, with_scheduler=scheduler))
    except MailerError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


async def _serve(settings: Settings, *, demo_data: bool, with_scheduler: bool) -> None:
    import uvicorn

    from mailer.editions.schedule import DigestScheduler
    from mailer.web.app import create_app

    svc = await Service(settings).start()
    stop = asyncio.Event()
    sender_task = asyncio.create_task(svc.sender_loop(stop))
    digest_scheduler = None
    try:
        svc.transport  # noqa: B018  (starts the development mailbox when no relay is set)
        if demo_data:
            await seed_demo(svc)
            await svc.send_now("daily")
        if with_scheduler:
            crons = {name: settings.cron_for(name) for name in LISTS}
            digest_scheduler = DigestScheduler(crons, settings.timezone, svc.run_list)
            digest_scheduler.start()
            await digest_scheduler.catch_up(svc.clock())
        if demo_data:
            announce = asyncio.create_task(_announce_demo(svc))  # noqa: F841, RUF006  (kept until serve ends)
        config = uvicorn.Config(
            create_app(svc), host=settings.web_host, port=settings.web_port,
            log_level=settings.log_level.lower(), lifespan="off",
        )
        logging.getLogger(__name__).info("web app on http://%s:%d", settings.web_host, settings.web_port)
        await uvicorn.Server(config).serve()
    finally:
        stop.set()
        await sender_task
        if digest_scheduler is not None:
            digest_scheduler.shutdown()
        await svc.close()


async def _announce_demo(svc: Service) -> None:
    """Tell the newcomer where the demo digest went once the sender has delivered it."""
    for _ in range(120):
        async with svc.db.transaction() as session:
            counts = await outbox.counts(session)
        if any(c.get("sent") for c in counts.values()):
            _point_at_mailbox(svc.settings)
            return
        await asyncio.sleep(0.5)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
