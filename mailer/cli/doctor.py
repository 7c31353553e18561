"""``mailer doctor``: is this setup ready to send? Settings, database, relay, DKIM; and the DNS
records to publish. Exits 1 when a check fails."""

from __future__ import annotations

import typer
from rich.table import Table

from mailer.cli.common import console, err, run, settings_of
from mailer.delivery.service import Service
from mailer.ops import checks, doctor


def register(root: typer.Typer) -> None:
    root.command("doctor")(doctor_command)


def doctor_command(ctx: typer.Context) -> None:
    """Check the settings, the database, the relay (EHLO, STARTTLS, AUTH) and the DKIM key, and
    print the SPF, DKIM and DMARC records to publish for the sender's domain."""
    settings = settings_of(ctx)  # an invalid setting stops here, naming the variable

    async def job(svc: Service) -> list[checks.Check]:
        found = [*doctor.settings_checks(settings), await checks.database(svc.db)]
        if settings.smtp is not None:
            found += await checks.relay(settings.smtp)
        return found

    found = run(settings, job)
    key_check, dkim_record = doctor.dkim_check(settings)
    found.append(key_check)
    table = Table("check", "", "detail")
    for check in found:
        table.add_row(check.name, "[green]ok[/green]" if check.ok else "[red]FAILED[/red]", check.detail)
    console.print(table)
    ed_record = doctor.ed25519_record(settings)
    records = [*doctor.dns_records(settings), *(r for r in (dkim_record, ed_record) if r is not None)]
    console.print("DNS records to publish:")
    for record in records:
        console.print(f"; {record.why}", highlight=False, soft_wrap=True)
        console.print(record.zone_line(), highlight=False, soft_wrap=True)
    failed = [c.name for c in found if not c.ok]
    if failed:
        err.print(f"[red]{len(failed)} check(s) failed:[/red] {', '.join(failed)}", highlight=False)
        raise typer.Exit(1)
