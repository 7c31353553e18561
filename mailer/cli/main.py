"""The ``mailer`` command. Every command has ``--help``; settings come from ``--config FILE``
(TOML), then ``MAILER_*`` environment variables, then the command's own flags.

Each command group is one module with a ``register(root)`` function; this is the one place
that registers them."""

from __future__ import annotations

from pathlib import Path

import typer

from mailer.cli import (
    bounces,
    db,
    demo,
    digest,
    dkim,
    doctor,
    editors,
    ingest,
    mailbox,
    preview,
    prune,
    serve,
    settings,
    shares,
    subscribers,
    worker,
)

app = typer.Typer(help="Arabic RTL newsletter digests and share-to-friend mail.", no_args_is_help=True)
for module in (serve, demo, ingest, digest, worker, db, dkim, bounces, mailbox, settings, shares,
               subscribers, editors, preview, prune, doctor):
    module.register(app)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", envvar="MAILER_CONFIG", help="TOML file with settings (keys as in the README)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
) -> None:
    ctx.obj = {"config": config, "verbose": verbose}


def main() -> None:
    app()


if __name__ == "__main__":
    main()
