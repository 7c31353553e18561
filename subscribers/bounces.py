"""What a bounce or a complaint does to a subscriber: the one bounce path. The SMTP reply of the
sender, a DSN or an ARF report from the bounce mailbox, and ``POST /api/bounces`` all end here,
and act through the subscription flows' named transitions.

What a permanent failure says (``judge``, from its status code and text, for SMTP replies and
DSNs alike): a mailbox that does not exist (5.1.1, 5.1.2, 5.1.6, 5.1.10 and the big providers'
wording) disables the subscriber at the first bounce: mailbox providers judge senders by mail to
dead addresses. A refusal of the message or the sender (5.7.x policy and spam verdicts, 5.3.x,
5.6.x) is recorded but never counted against the subscriber. Any other hard bounce is scored.

Scoring, as Mailman does it: each subscriber gets at most one counted bounce a day (in the site's
time zone; a hard one replaces a soft one of the same day). A hard bounce is worth 2 points, a
soft one 1 point for 7 days. At ``bounce_threshold`` points (default 6: three days of hard
bounces) the subscriber is disabled: status ``bounced`` and the address suppressed. A complaint
suppresses at once and unsubscribes. Only bounces since the subscriber last confirmed count.
"""

from __future__ import annotations

import re
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
Judgement = Literal["gone", "refused", "hard"]
POINTS = {"hard": 2, "soft": 1}
SOFT_DECAY = timedelta(days=7)

_STATUS = re.compile(r"(?<![0-9.])5\.([0-9]{1,3})\.([0-9]{1,3})(?![0-9])")
# RFC 3463: bad destination mailbox, bad destination system, mailbox moved with no forwarding
# address; RFC 7505 and Microsoft: 5.1.10, no such recipient (or a null MX)
GONE_STATUSES = {(1, 1), (1, 2), (1, 6), (1, 10)}
# about our side: bad sender address or system (5.1.7, 5.1.8), the mail system (5.3.x), the
# message's content (5.6.x), security and policy, spam verdicts included (5.7.x)
REFUSED_STATUSES = {(1, 7), (1, 8)}
REFUSED_SUBJECTS = {3, 6, 7}
_GONE_WORDS = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|account)|mailbox not found"
    r"|recipient ?not ?found|(?:account|address|mailbox)(?: that you tried to reach)? does not exist"
    r"|doesn't have an? \S+ account|invalid (?:recipient|mailbox)",
    re.IGNORECASE,
)
_REFUSED_WORDS = re.compile(
    r"spam|unsolicited|polic(?:y|ies)|block ?list|black ?list|blocked|reputation|relay(?:ing)? (?:access )?denied"
    r"|not (?:authori[sz]ed|permitted) to send|unauthenticated|dmarc|\bspf\b|\bdkim\b|content rejected",
    re.IGNORECASE,
)


def judge(text: str) -> Judgement:
    """What a permanent failure's status and text blame: the mailbox not existing (``gone``),
    the message or its sender (``refused``), or something else about the recipient (``hard``).

    A specific enhanced status code decides (Gmail's ``550 5.1.1 The email account that you
    tried to reach does not exist``, Microsoft's ``550 5.1.10 RecipientNotFound``, ``550 5.7.1
    ... spam``, Yahoo's ``554 5.7.9 Message not accepted for policy reasons``); a generic one
    (5.0.0, 5.x.0) or none leaves it to the wording (Yahoo's ``554 delivery error: dd This user
    doesn't have a yahoo.com account``, Postfix's ``User unknown``, ``Relay access denied``)."""
    status = _STATUS.search(text)
    if status is not None:
        subject, detail = int(status[1]), int(status[2])
        if (subject, detail) in GONE_STATUSES:
            return "gone"
        if (subject, detail) in REFUSED_STATUSES or subject in REFUSED_SUBJECTS:
            return "refused"
        if detail != 0 and subject in (1, 2, 4):
            return "hard"
    if _GONE_WORDS.search(text):
        return "gone"
    if _REFUSED_WORDS.search(text):
        return "refused"
    return "hard"


@dataclass(frozen=True)
class Target:
    """Whom a bounce is about: an address, and the subscriber and outbox row when known."""

    recipient: str
    subscriber_id: int | None = None
    outbox_id: int | None = None


@dataclass(frozen=True)
class Handled:
    action: str  # counted | not counted | disabled | suppressed | refused | recorded | unattributed | ignored
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
    """Store the event, score it and apply what follows; idempotent enough to run twice.

    ``detail`` is the status and text of the failure (``judge`` reads it): a hard bounce for a
    mailbox that does not exist disables at once; one that refused the message counts nothing."""
    day = now.astimezone(settings.tz).date().isoformat()
    verdict = judge(detail) if kind == "hard" else None
    event = BounceEvent(
        subscriber_id=target.subscriber_id, outbox_id=target.outbox_id, recipient=target.recipient,
        kind="refused" if verdict == "refused" else kind, source=source, counted=False, day=day,
        detail=detail[:2000], created_at=now,
    )
    session.add(event)
    sub = await session.get(Subscriber, target.subscriber_id) if target.subscriber_id else None
    if kind == "complaint":
        event.counted = True
        await flows.complaint(session, target.recipient, now, subscriber=sub)
        return Handled("suppressed", kind, target)
    if verdict == "refused":  # the message or our sender was refused, not this mailbox
        return Handled("refused", kind, target)
    if sub is None:
        if verdict == "gone" and target.outbox_id is not None:  # one of our messages: not forged
            await flows.disable(session, target.recipient, now)
            return Handled("suppressed", kind, target)
        return Handled("recorded", kind, target)
    counted = await _count_today(session, event)
    await session.flush()
    score = await _score(session, sub, now)
    sub.bounce_score = score
    sub.last_bounce_at = now
    if (verdict == "gone" or score >= settings.bounce_threshold) and sub.status in flows.TRANSITIONS["bounce"][0]:
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
