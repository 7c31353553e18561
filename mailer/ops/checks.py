"""What ``/readyz`` and ``mailer doctor`` check: the database (reachable, migrated to head) and the
relay (EHLO, STARTTLS, AUTH). Each check returns a ``Check``; none raises for what it finds."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import cast

import aiosmtplib

from mailer.core.db import Database, alembic_config
from mailer.core.urls import SmtpConfig
from mailer.delivery.service import Service


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


async def database(db: Database) -> Check:
    """Reachable, and at the newest migration (what ``mailer db upgrade`` would leave it at)."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    try:
        async with db.engine.connect() as conn:
            current = set(await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads()))
    except Exception as exc:
        return Check("database", False, f"cannot be reached: {type(exc).__name__}: {exc}".strip())
    if current != heads:
        shown = ", ".join(sorted(current)) or "no tables"
        return Check("database", False, f"at {shown}, not {', '.join(sorted(heads))}: run `mailer db upgrade`")
    return Check("database", True, f"{db.dialect}, migrated to {', '.join(sorted(heads))}")


def relay_of(service: Service) -> SmtpConfig:
    """The relay the service sends through: ``MAILER_SMTP_URL``, else the development mailbox."""
    s = service.settings
    if s.smtp is not None:
        return s.smtp
    port = service.devmailbox.port if service.devmailbox is not None else s.devmailbox_port
    return SmtpConfig(s.devmailbox_host, port, "none", None, None)


async def relay(
    config: SmtpConfig, *, timeout: float = 10.0, login: bool = True, tls_context: ssl.SSLContext | None = None
) -> list[Check]:
    """Greet the relay as the sender does: EHLO, then STARTTLS and AUTH where the URL asks for
    them; ``login=False`` stops after EHLO (readiness). Nothing is sent."""
    where = f"{config.host}:{config.port}"
    smtp = aiosmtplib.SMTP(hostname=config.host, port=config.port, use_tls=config.tls == "implicit",
                           start_tls=False, timeout=timeout, tls_context=tls_context)
    checks: list[Check] = []
    step = "relay EHLO"
    try:
        await smtp.connect()
        reply = await smtp.ehlo()
        name = reply.message.splitlines()[0] if reply.message else ""
        tls = " over TLS" if config.tls == "implicit" else ""
        checks.append(Check(step, True, f"{where} answers: {reply.code} {name}{tls}"))
        if not login:
            await smtp.quit()
            return checks
        step = "relay STARTTLS"
        offered = smtp.supports_extension("starttls")
        if config.tls == "starttls":
            await smtp.starttls()
            await smtp.ehlo()
            checks.append(Check(step, True, "TLS started, certificate accepted"))
        elif config.tls == "none":
            local = config.host in ("127.0.0.1", "::1", "localhost")
            checks.append(Check(step, local or not offered, "offered but not used: use smtp+starttls://" if offered
                                else "not offered: mail to the relay is plain text" if not local else "not used"))
        step = "relay AUTH"
        methods = ", ".join(sorted(smtp.server_auth_methods)) or "none"
        if config.username:
            await smtp.login(config.username, config.password or "")
            checks.append(Check(step, True, f"logged in as {config.username} (offered: {methods})"))
        else:
            checks.append(Check(step, True, "no credentials in MAILER_SMTP_URL: the relay must trust this host"))
        await smtp.quit()
    except (aiosmtplib.SMTPException, OSError) as exc:
        checks.append(Check(step, False, f"{where}: {type(exc).__name__}: {exc}"))
        if smtp.transport is not None:  # uvloop's transports are not asyncio's classes: a cast
            # at once: closing a TLS connection waits for the relay's close_notify, which could
            # come after the command's loop is closed (uvloop then fails with EBUSY)
            cast(asyncio.WriteTransport, smtp.transport).abort()
    finally:
        smtp.close()
    return checks
