"""``mailer prune``: apply the retention settings now (``mailer serve`` does it on MAILER_PRUNE_CRON)."""

from __future__ import annotations

import typer

from mailer.cli.common import console, run, settings_of
from mailer.delivery.service import Service
from mailer.ops.prune import Pruned, prune


def register(root: typer.Typer) -> None:
    root.command("prune")(prune_command)


def prune_command(ctx: typer.Context) -> None:
    """Remove old payloads, histories, rendered variants, outbox rows, expired links and sessions,
    old bounce events and share records; the counts that reports and metrics need are kept."""
    settings = settings_of(ctx)

    async def job(svc: Service) -> Pruned:
        return await prune(svc.db, svc.settings, svc.clock())

    console.print("pruned: " + run(settings, job).describe())
