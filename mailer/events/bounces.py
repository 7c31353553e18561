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

from mailer.core import message_ids
from mailer.core.db import Database
from mailer.core.models import OutboxMessage
from mailer.core.settings import Settings
from mailer.events.mailboxes import Source
from mailer.events.reports import Report, parse
from subscribers.bounces import Handled, Target, record, record_unattributed

Clock = Callable[[], datetime]
_DIGEST = re.compile(r"e([0-9]{1,18})\.s([0-9]{1,18})")


async def attribute(session: AsyncSession, settings: Settings, report: Report) -> Target | None:
    """Whom a report is about, only from proof that it answers our mail: the signed VERP token,
    else a quoted Message-ID we signed. The bounce address is public (every message's
    Return-Path), so an address named in a report proves nothing: without proof, None."""
    row = await session.get(OutboxMessage, report.row_id) if report.row_id else None
    if row is None and report.message_id:
        row = await _row_by_message_id(session, settings, report.message_id)
    if row is None or not row.recipient:  # not ours, or its recipient was forgotten since
        return None
    return Target(row.recipient, row.subscriber_id, row.id)


async def _row_by_message_id(session: AsyncSession, settings: Settings, message_id: str) -> OutboxMessage | None:
    what = message_ids.what_of(settings.keyring, await message_ids.installation_id(session), message_id)
    if what is None:
        return None
    digest = _DIGEST.fullmatch(what)
    if digest:  # digests are made per (edition, subscriber) and store no Message-ID
        stmt = select(OutboxMessage).where(
            OutboxMessage.edition_id == int(digest.group(1)),
            OutboxMessage.subscriber_id == int(digest.group(2)),
        )
    else:  # one-off messages keep theirs
        stmt = select(OutboxMessage).where(OutboxMessage.message_id == message_id.strip())
    return (await session.scalars(stmt.limit(1))).first()


async def handle_report(
    session: AsyncSession, settings: Settings, report: Report, now: datetime, *, source: str
) -> Handled:
    """Act on one parsed report (from the bounce mailbox or ``POST /api/bounces``)."""
    if report.kind is None:
        return Handled("ignored")
    target = await attribute(session, settings, report)
    if target is None:
        return await record_unattributed(session, settings, report.kind, sorted(report.addresses), now,
                                         source=source, detail=report.detail)
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
