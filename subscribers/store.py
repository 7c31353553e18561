"""Reading and writing subscribers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.errors import InvalidInput
from subscribers.addresses import check
from subscribers.models import FREQUENCIES, STATUSES, Subscriber, SubscriberSection


async def by_email(session: AsyncSession, email: str) -> Subscriber | None:
    address = check(email)
    return (await session.scalars(select(Subscriber).where(Subscriber.email == address.normalized))).first()


async def add(
    session: AsyncSession,
    email: str,
    *,
    now: datetime,
    name: str | None = None,
    status: str = "pending",
    frequency: str = "daily",
    sections: Iterable[int] = (),
) -> Subscriber:
    """Insert a subscriber, or return the existing one with that address unchanged."""
    if status not in STATUSES:
        raise InvalidInput("status", f"{status!r} is not one of {', '.join(STATUSES)}")
    if frequency not in FREQUENCIES:
        raise InvalidInput("frequency", f"{frequency!r} is not one of {', '.join(FREQUENCIES)}")
    address = check(email)
    existing = (await session.scalars(select(Subscriber).where(Subscriber.email == address.normalized))).first()
    if existing is not None:
        return existing
    sub = Subscriber(
        email=address.normalized, email_ascii=address.ascii, name=name, status=status,
        frequency=frequency, created_at=now, updated_at=now,
        confirmed_at=now if status == "confirmed" else None,
    )
    session.add(sub)
    await session.flush()
    await set_sections(session, sub.id, sections)
    return sub


async def set_sections(session: AsyncSession, subscriber_id: int, sections: Iterable[int]) -> None:
    await session.execute(delete(SubscriberSection).where(SubscriberSection.subscriber_id == subscriber_id))
    for section_id in set(sections):
        session.add(SubscriberSection(subscriber_id=subscriber_id, section_id=section_id))
    await session.flush()
