"""How many confirmed subscribers each list had, day by day: ``subscriber_lists`` keeps no dates,
so the scheduler records today's counts through the day (the last one of a day stands for it)
and the console's dashboard reads them back, with today's counted live."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import insert
from subscribers.models import ListCount, Subscriber, SubscriberList


async def live(session: AsyncSession) -> dict[str, int]:
    """Confirmed subscribers per list now (one grouped query)."""
    rows = await session.execute(
        select(SubscriberList.list_name, func.count())
        .join(Subscriber, Subscriber.id == SubscriberList.subscriber_id)
        .where(Subscriber.status == "confirmed")
        .group_by(SubscriberList.list_name)
    )
    return {name: int(count) for name, count in rows.all()}


async def record(session: AsyncSession, lists: Iterable[str], day: date, now: datetime) -> dict[str, int]:
    """Store (or replace) ``day``'s count of every list in ``lists``; a list nobody takes gets 0."""
    counts = await live(session)
    taken = {name: counts.get(name, 0) for name in lists}
    for name, count in taken.items():
        stmt = insert(session, ListCount).values(day=day.isoformat(), list_name=name, subscribers=count, taken_at=now)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["day", "list_name"], set_={"subscribers": count, "taken_at": now},
        ))
    return taken


async def between(session: AsyncSession, first: date, last: date) -> dict[tuple[date, str], int]:
    """The recorded counts of the days ``first`` to ``last``, by (day, list)."""
    rows = await session.execute(
        select(ListCount.day, ListCount.list_name, ListCount.subscribers)
        .where(ListCount.day >= first.isoformat(), ListCount.day <= last.isoformat())
    )
    return {(date.fromisoformat(day), name): count for day, name, count in rows.all()}
