"""What every command shares: the consoles, settings from the command line, and running a job
on a started ``Service`` with a clear message for any ``MailerError``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from mailer.core import logs, loop
from mailer.core.errors import MailerError
from mailer.core.settings import Settings, load_settings
from mailer.delivery.service import Service

T = TypeVar("T")

console = Console()
err = Console(stderr=True)

def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` (name the option or argument in it) and exit with ``code``."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)  # one line, for grep
    raise typer.Exit(code)


def settings_of(ctx: typer.Context, **overrides: Any) -> Settings:
    """The settings for this command (``--config``, environment, ``overrides``); logging set up."""
    try:
        settings = load_settings(ctx.obj["config"], **overrides)
    except MailerError as exc:
        fail(str(exc), 2)
    logs.configure(settings, verbose=ctx.obj["verbose"])
    return settings


def run(settings: Settings, job: Callable[[Service], Awaitable[T]]) -> T:
    """Start a service, run ``job`` on it, close it; a ``MailerError`` ends with a clear message."""

    async def go() -> T:
        svc = await Service(settings).start()
        try:
            return await job(svc)
        finally:
            await svc.close()

    try:
        return loop.run(go())
    except MailerError as exc:
        fail(str(exc), 1)
