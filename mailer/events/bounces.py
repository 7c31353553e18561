"""Bounces and complaints: who they are about, Mailman-style scoring, and what follows.

Scoring: each subscriber gets at most one counted bounce a day (in the site's time zone; a hard
one replaces a soft one of the same day). A hard bounce is worth 2 points, a soft one 1 point
for 7 days. At ``bounce_threshold`` points (default 6: three days of hard bounces) the subscriber
is disabled: status ``bounced`` and the address suppressed. A complaint suppresses at once and
unsubscribes. Only bounces since the subscriber last confirmed count.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import Database
from mailer.core.errors import InvalidAddress
from mailer.core.models import BounceEvent, OutboxMessage
from mailer.core.settings import Settings
from mailer.events.mailboxes import Source
from mailer.events.reports import Kind, Report, parse
from subscribers import flows, store, suppression
from subscribers.models import Subscriber

Clock = Callable[[], datetime]
POINTS = {"hard": 2, "soft": 1}
SOFT_DECAY = timedelta(days=7)
_DIGEST_MESSAGE_ID = re.compile(r"<e([0-9]+)\.s([0-9]+)@([^>]+)>")


@dataclass(frozen=True)
class Target:
    """Whom a bounce is about: an address, and the subscriber and outbox row when known."""

    recipient: str
    subscriber_id: int | None = None
    outbox_id: int | None = None


@dataclass(frozen=True)
class Handled:
    action: str  # counted | not counted | disabled | suppressed | recorded | unattributed | ignored
    kind: Kind | None = None
    target: Target | None = None
    score: int | None = None

    def as_json(self) -> dict[str, object]:
        t = self.target
        return {
            "action": self.action, "kind": self.kind, "score": self.score,
            "subscriber_id": t.subscriber_id if t else None, "outbox_id": t.outbox_id if t else None,
        }


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


async def record(
    session: AsyncSession,
    settings: Settings,
    target: Target,
    kind: Kind,
    now: datetime,
    *,
    source: str,
    detail: str = "",
) -> Handled:
    """Store the event, score it and apply what follows; idempotent enough to run twice."""
    day = now.astimezone(settings.tz).date().isoformat()
    event = BounceEvent(
        subscriber_id=target.subscriber_id, outbox_id=target.outbox_id, recipient=target.recipient,
        kind=kind, source=source, counted=False, day=day, detail=detail[:2000], created_at=now,
    )
    session.add(event)
    sub = await session.get(Subscriber, target.subscriber_id) if target.subscriber_id else None
    if kind == "complaint":
        event.counted = True
        for address in {target.recipient, *( [sub.email] if sub else [])}:
            await suppression.suppress(session, address, "complaint")
        if sub is not None:
            await flows.unsubscribe(session, sub.id, now)
        return Handled("suppressed", kind, target)
    if sub is None:
        return Handled("recorded", kind, target)
    counted = await _count_today(session, event)
    await session.flush()
    score = await _score(session, sub, now)
    sub.bounce_score = score
    sub.last_bounce_at = now
    if score >= settings.bounce_threshold and sub.status in flows.TRANSITIONS["bounce"][0]:
        flows.transition(sub, "bounce", now)
        for address in {sub.email, target.recipient}:
            await suppression.suppress(session, address, "hard_bounce")
        return Handled("disabled", kind, target, score)
    return Handled("counted" if counted else "not counted", kind, target, score)


async def _count_today(session: AsyncSession, event: BounceEvent) -> bool:
    """At most one counted bounce per subscriber per day; a hard one outranks a soft one."""
    earlier = (
        await session.scalars(
            select(BounceEvent).where(
                BounceEvent.subscriber_id == event.subscriber_id,
                BounceEvent.day == event.day,
                BounceEvent.counted.is_(True),
                BounceEvent.kind.in_(list(POINTS)),
            )
        )
    ).first()
    if earlier is None:
        event.counted = True
    elif earlier.kind == "soft" and event.kind == "hard":
        earlier.counted = False
        event.counted = True
    return event.counted


async def _score(session: AsyncSession, sub: Subscriber, now: datetime) -> int:
    stmt = select(BounceEvent.kind, BounceEvent.created_at).where(
        BounceEvent.subscriber_id == sub.id, BounceEvent.counted.is_(True), BounceEvent.kind.in_(list(POINTS))
    )
    if sub.confirmed_at is not None:
        stmt = stmt.where(BounceEvent.created_at >= sub.confirmed_at)
    score = 0
    for kind, at in await session.execute(stmt):
        if kind == "hard" or now - at < SOFT_DECAY:
            score += POINTS[kind]
    return score


async def process_source(db: Database, settings: Settings, source: Source, clock: Clock) -> Counter[str]:
    """Handle every waiting message of a bounce mailbox, each in its own transaction; a handled
    one is deleted, one we cannot act on is left (marked seen) for a person to look at."""
    totals: Counter[str] = Counter()
    for key, raw in await asyncio.to_thread(lambda: list(source.messages())):
        report = parse(raw, settings.secret)
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
