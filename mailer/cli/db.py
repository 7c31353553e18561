"""``mailer db``: database maintenance."""

from __future__ import annotations

import typer

from mailer.cli.common import console, run, settings_of
from mailer.core.urls import redact_url
from mailer.delivery.service import Service

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
    console.print(f"database at head: {redact_url(settings.database_url)}")
