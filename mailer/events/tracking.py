"""Recording clicks and opens: one upsert a hit into ``tracking_counts`` (per edition, article,
kind and audience), and, only with ``MAILER_TRACKING=per_reader``, one row naming the subscriber.
Nothing else is read or written, so the redirect answers at once."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import insert
from mailer.core.models import OutboxMessage, ReaderEvent, TrackingCount
from mailer.events.machines import Audience

Kind = Literal["click", "open"]


async def record(
    session: AsyncSession, edition_id: int, article_id: int, kind: Kind, who: Audience, now: datetime,
    *, subscriber_id: int | None = None,
) -> None:
    stmt = insert(session, TrackingCount).values(
        edition_id=edition_id, article_id=article_id, kind=kind, audience=who, count=1, last_at=now
    )
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["edition_id", "article_id", "kind", "audience"],
        set_={"count": TrackingCount.count + 1, "last_at": now},
    ))
    if subscriber_id is not None:
        session.add(ReaderEvent(edition_id=edition_id, article_id=article_id, subscriber_id=subscriber_id,
                                kind=kind, audience=who, created_at=now))


async def delivered_at(session: AsyncSession, edition_id: int, subscriber_id: int) -> datetime | None:
    """When an edition reached one subscriber (per-reader mode only: it names the reader)."""
    return await session.scalar(select(OutboxMessage.sent_at).where(
        OutboxMessage.edition_id == edition_id, OutboxMessage.subscriber_id == subscriber_id))
