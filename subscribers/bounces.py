"""What a bounce or a complaint does to a subscriber: the one bounce path. The SMTP reply of the
sender, a DSN or an ARF report from the bounce mailbox, and ``POST /api/bounces`` all end here,
and act through the subscription flows' named transitions.

Scoring, as Mailman does it: each subscriber gets at most one counted bounce a day (in the site's
time zone; a hard one replaces a soft one of the same day). A hard bounce is worth 2 points, a
soft one 1 point for 7 days. At ``bounce_threshold`` points (default 6: three days of hard
bounces) the subscriber is disabled: status ``bounced`` and the address suppressed. A complaint
suppresses at once and unsubscribes. Only bounces since the subscriber last confirmed count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.models import BounceEvent
from mailer.core.settings import Settings
from subscribers import flows
from subscribers.models import Subscriber

Kind = Literal["hard", "soft", "complaint"]
POINTS = {"hard": 2, "soft": 1}
SOFT_DECAY = timedelta(days=7)


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
        await flows.complaint(session, target.recipient, now, subscriber=sub)
        return Handled("suppressed", kind, target)
    if sub is None:
        return Handled("recorded", kind, target)
    counted = await _count_today(session, event)
    await session.flush()
    score = await _score(session, sub, now)
    sub.bounce_score = score
    sub.last_bounce_at = now
    if score >= settings.bounce_threshold and sub.status in flows.TRANSITIONS["bounce"][0]:
        await flows.disable(session, target.recipient, now, subscriber=sub)
        return Handled("disabled", kind, target, score)
    return Handled("counted" if counted else "not counted", kind, target, score)


async def record_unattributed(
    session: AsyncSession,
    settings: Settings,
    kind: Kind,
    addresses: list[str],
    now: datetime,
    *,
    source: str,
    detail: str = "",
) -> Handled:
    """Keep a report that carries no proof it answers our mail (no valid VERP token, no Message-ID
    we signed), for a person to look at: it is attached to nobody, counted for nobody, and
    suppresses nothing, whatever addresses it names (anyone can mail the bounce address)."""
    session.add(BounceEvent(
        subscriber_id=None, outbox_id=None, recipient=(addresses[0] if len(addresses) == 1 else "")[:320],
        kind=kind, source=source, counted=False, day=now.astimezone(settings.tz).date().isoformat(),
        detail=f"unattributed: {detail}"[:2000], created_at=now,
    ))
    await session.flush()
    return Handled("unattributed", kind)


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
