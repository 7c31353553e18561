"""``mailer db``: database maintenance."""

from __future__ import annotations

from pathlib import Path

import typer

from mailer.cli.common import console, fail, run, settings_of
from mailer.core.errors import MailerError
from mailer.core.urls import redact_url
from mailer.delivery.service import Service
from mailer.ops import backup

app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="db")


@app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply every database migration (also done on every start)."""
    settings = settings_of(ctx)

    async def job(svc: Service) -> None:
        return None

    run(settings, job)
    console.print(f"database at head: {redact_url(settings.database_url)}")  # never the password


@app.command("backup")
def db_backup(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Where to write the backup (never overwritten)."),
    print_only: bool = typer.Option(False, "--print", help="PostgreSQL: print the pg_dump command, do not run it."),
) -> None:
    """Back up the database while the service runs: SQLite's online backup API, or pg_dump's custom
    format for PostgreSQL."""
    settings = settings_of(ctx)
    if file.exists():
        fail(f"FILE: {file} exists; pick another name (a backup is never overwritten)")
    try:
        if settings.is_sqlite:
            backup.sqlite_backup(backup.sqlite_path(settings.database_url), file)
        else:
            recipe = backup.pg_dump(settings.database_url, file)
            if print_only:
                console.print(recipe.shown(), highlight=False, soft_wrap=True)
                return
            backup.run(recipe)
    except MailerError as exc:
        fail(str(exc), 1)
    console.print(f"backed up {redact_url(settings.database_url)} to {file} ({file.stat().st_size} bytes)")


@app.command("restore")
def db_restore(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A file written by `mailer db backup`."),
    yes: bool = typer.Option(False, "--yes", help="Replace the database without asking."),
    print_only: bool = typer.Option(False, "--print", help="PostgreSQL: print the pg_restore command only."),
) -> None:
    """Replace the database with a backup, then migrate it to this version. Stop `serve` and every
    worker first: what they wrote since the backup is lost."""
    settings = settings_of(ctx)
    if print_only and not settings.is_sqlite:
        console.print(backup.pg_restore(settings.database_url, file).shown(), highlight=False, soft_wrap=True)
        return
    if not yes and not typer.confirm(f"replace {redact_url(settings.database_url)} with {file}?"):
        fail("nothing restored", 1)
    try:
        if settings.is_sqlite:
            backup.sqlite_restore(file, backup.sqlite_path(settings.database_url))
        else:
            backup.run(backup.pg_restore(settings.database_url, file))
    except MailerError as exc:
        fail(str(exc), 1)

    async def job(svc: Service) -> None:  # run() migrates on start: an older backup is brought up to date
        return None

    run(settings, job)
    console.print(f"restored {file}; database at head")
