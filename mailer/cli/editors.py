"""``mailer editors``: accounts for the editor pages (add, list, passwd, role, remove)."""

from __future__ import annotations

import sys

import typer
from rich.table import Table
from sqlalchemy import func, select

from mailer.cli.common import console, err, run, settings_of
from mailer.core.errors import MailerError, NotFound
from mailer.core.models import Editor, EditorSession
from mailer.delivery.service import Service
from mailer.editor import accounts

app: typer.Typer = typer.Typer(help="Editor accounts for the preview pages.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="editors")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        return accounts.check_password(password)
    except MailerError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Login name: 2-64 letters, digits, '.', '_' or '-'."),
    email: str = typer.Option(..., "--email", help="The editor's own address; test sends go there."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    role: str | None = typer.Option(None, "--role", help="editor (preview, curate, send, test) or admin "
                                    "(also subscribers, editors and the settings view); default: admin "
                                    "for the first account, editor after that."),
) -> None:
    """Add an editor; asks for the password twice (at least 10 characters)."""

    if role is not None and role not in accounts.ROLES:
        err.print(f"[red]error:[/red] --role: {role!r} is not one of {', '.join(accounts.ROLES)}")
        raise typer.Exit(2)
    settings = settings_of(ctx)
    password = _password(password_stdin)

    async def job(svc: Service) -> str:
        async with svc.db.transaction() as session:
            return (await accounts.add(session, name, email, password, svc.clock(), role=role)).name

    added = run(settings, job)
    console.print(f"editor {added!r} added; sign in at {settings.base_url}/editor/login")


@app.command("passwd")
def passwd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The editor's login name."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Set a new password; every session of that editor ends at once."""

    settings = settings_of(ctx)
    password = _password(password_stdin)

    async def job(svc: Service) -> None:
        async with svc.db.transaction() as session:
            editor = await accounts.by_name(session, name)
            if editor is None:
                raise NotFound(f"NAME: no editor named {name!r}")
            await accounts.set_password(session, editor.id, password, svc.clock())

    run(settings, job)
    console.print(f"password of {name!r} changed; all their sessions were ended")


@app.command("role")
def set_role(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The editor's login name."),
    role: str = typer.Argument(..., help="editor or admin."),
) -> None:
    """Change an editor's role; it applies from their next page."""

    if role not in accounts.ROLES:
        err.print(f"[red]error:[/red] ROLE: {role!r} is not one of {', '.join(accounts.ROLES)}")
        raise typer.Exit(2)
    settings = settings_of(ctx)

    async def job(svc: Service) -> None:
        async with svc.db.transaction() as session:
            await accounts.set_role(session, name, role)

    run(settings, job)
    console.print(f"{name!r} is now {role}")


@app.command("list")
def list_editors(ctx: typer.Context) -> None:
    """Editors with their address and how many live sessions they have."""

    settings = settings_of(ctx)

    async def job(svc: Service) -> list[tuple[str, str, str, int]]:
        live = (
            select(func.count())
            .where(EditorSession.editor_id == Editor.id, EditorSession.expires_at > svc.clock())
            .scalar_subquery()
        )
        async with svc.db.transaction() as session:
            rows = await session.execute(select(Editor.name, Editor.email, Editor.role, live).order_by(Editor.name))
            return [(n, e, r, int(c)) for n, e, r, c in rows]

    table = Table("name", "email", "role", "sessions")
    for name, email, role, count in run(settings, job):
        table.add_row(name, email, role, str(count))
    console.print(table)


@app.command("remove")
def remove(ctx: typer.Context, name: str = typer.Argument(..., help="The editor's login name.")) -> None:
    """Remove an editor and end their sessions."""

    settings = settings_of(ctx)

    async def job(svc: Service) -> None:
        async with svc.db.transaction() as session:
            await accounts.remove(session, name)

    run(settings, job)
    console.print(f"editor {name!r} removed")
