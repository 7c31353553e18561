"""``mailer settings``: the effective settings, secrets hidden."""

from __future__ import annotations

import typer
from pydantic import SecretStr
from rich.table import Table

from mailer.cli.common import console, settings_of
from mailer.core.settings import URL_FIELDS
from mailer.core.signing import Keyring
from mailer.core.urls import redact_url


def register(root: typer.Typer) -> None:
    root.command("settings")(settings_command)


def settings_command(ctx: typer.Context) -> None:
    """Print the effective settings (secrets hidden) and where each may be set."""
    settings = settings_of(ctx)
    table = Table("environment variable", "value")
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        shown = "********" if isinstance(value, SecretStr) and value else str(value)  # every secret
        if name == "secret_key" and value:
            shown += f" (key id {settings.keyring.key_ids[0]})"
        if name == "secret_key_previous":
            ids = [Keyring.of(k.get_secret_value()).key_ids[0] for k in value]
            shown = f"{len(ids)} (key ids {', '.join(ids)})" if ids else "none"
        if name in URL_FIELDS and value:
            shown = redact_url(value)
        if name == "lists":  # a table per list in the TOML file ([lists.KEY])
            shown = "; ".join(f"{key}: {v.name} ({v.schedule})" for key, v in value.items())
        if name in ("feeds", "breaking_categories", "site_origins"):
            shown = ", ".join(value) or "none"
        table.add_row(f"MAILER_{name.upper()}", shown)
    console.print(table)
