"""Subscription flows as named transitions; each allowed status change is listed in one table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mailer.errors import Conflict
from subscribers import suppression
from subscribers.models import Subscriber

# flow name -> (statuses it may start from, status it ends in)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "confirm": (frozenset({"pending"}), "confirmed"),
    "pause": (frozenset({"confirmed"}), "paused"),
    "resume": (frozenset({"paused"}), "confirmed"),
    "unsubscribe": (frozenset({"pending", "confirmed", "paused", "bounced"}), "unsubscribed"),
    "bounce": (frozenset({"confirmed", "paused"}), "bounced"),
}


def transition(sub: Subscriber, flow: str, now: datetime) -> bool:
    """Apply ``flow`` to ``sub``; False if it is already in the target status (idempotent)."""
    allowed, target = TRANSITIONS[flow]
    if sub.status == target:
        return False
    if sub.status not in allowed:
        raise Conflict(f"cannot {flow} a subscriber who is {sub.status}")
    sub.status = target
    sub.updated_at = now
    if target == "confirmed" and sub.confirmed_at is None:
        sub.confirmed_at = now
    if target == "unsubscribed":
        sub.unsubscribed_at = now
    return True


async def unsubscribe(session: AsyncSession, subscriber_id: int, now: datetime) -> None:
    """Leave every list at once and never be mailed again; repeating it changes nothing."""
    sub = await session.get(Subscriber, subscriber_id)
    if sub is None or sub.status in ("unsubscribed", "forgotten"):
        return
    transition(sub, "unsubscribe", now)
    await suppression.suppress(session, sub.email, "unsubscribe")
