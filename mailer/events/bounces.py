"""Bounce and complaint reports: whom each is about (attribution), then the one bounce path
(``subscribers.bounces.record``) acts on it. Reports arrive from the bounce mailbox
(``process_source``) or ``POST /api/bounces`` (``handle_report``)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import Database
from mailer.core.errors import InvalidAddress
from mailer.core.models import OutboxMessage
from mailer.core.settings import Settings
from mailer.events.mailboxes import Source
from mailer.events.reports import Report, parse
from subscribers import store
from subscribers.bounces import Handled, Target, record
from subscribers.models import Subscriber

Clock = Callable[[], datetime]
_DIGEST_MESSAGE_ID = re.compile(r"<e([0-9]+)\.s([0-9]+)@([^>]+)>")


async def attribute(session: AsyncSession, settings: Settings, report: Report) -> Target | None:
    """The signed VERP token first; then the quoted Message-ID of one of our messages; then the
    one address the report names, if it belongs to a subscriber."""
    row = await session.get(OutboxMessage, report.row_id) if report.row_id else None
    if row is None and report.message_id:
        row = await _row_by_message_id(session, settings, report.message_id)
    if row is not None:
        return Target(row.recipient, row.subscriber_id, row.id)
    if len(report.addresses) == 1:
        (address,) = report.addresses
        try:
            sub = await store.by_email(session, address)
        except InvalidAddress:
            sub = None
        if sub is None:
            sub = (await session.scalars(select(Subscriber).where(Subscriber.email_ascii == address))).first()
        return Target(address, sub.id if sub else None)
    return None


async def _row_by_message_id(session: AsyncSession, settings: Settings, message_id: str) -> OutboxMessage | None:
    digest = _DIGEST_MESSAGE_ID.fullmatch(message_id)
    if digest and digest.group(3).lower() == settings.mail_domain.lower():
        stmt = select(OutboxMessage).where(
            OutboxMessage.edition_id == int(digest.group(1)),
            OutboxMessage.subscriber_id == int(digest.group(2)),
        )
    else:
        local = message_id.strip("<>").split("@", 1)[0]
        stmt = select(OutboxMessage).where(OutboxMessage.message_id.in_([message_id, local]))
    return (await session.scalars(stmt.limit(1))).first()


async def handle_report(
    session: AsyncSession, settings: Settings, report: Report, now: datetime, *, source: str
) -> Handled:
    """Act on one parsed report (from the bounce mailbox or ``POST /api/bounces``)."""
    if report.kind is None:
        return Handled("ignored")
    target = await attribute(session, settings, report)
    if target is None:
        return Handled("unattributed", report.kind)
    return await record(session, settings, target, report.kind, now, source=source, detail=report.detail)


async def process_source(db: Database, settings: Settings, source: Source, clock: Clock) -> Counter[str]:
    """Handle every waiting message of a bounce mailbox, each in its own transaction; a handled
    one is deleted, one we cannot act on is left (marked seen) for a person to look at."""
    totals: Counter[str] = Counter()
    for key, raw in await asyncio.to_thread(lambda: list(source.messages())):
        report = parse(raw, settings.keyring)
        async with db.transaction() as session:
            handled = await handle_report(
                session, settings, report, clock(), source="arf" if report.kind == "complaint" else "dsn"
            )
        if handled.action in ("ignored", "unattributed"):
            await asyncio.to_thread(source.keep, key)
        else:
            await asyncio.to_thread(source.delete, key)
        totals[handled.action] += 1
    return totals
