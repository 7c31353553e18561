"""The share records and opt-outs in the database: writing them, the counts the cross-worker limits
are taken from (per recipient, per recipient and article, global), and the audit statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import insert
from mailer.core.models import Article, OutboxMessage, ShareOptOut, ShareRecord

QUEUED = "queued"


async def add(
    session: AsyncSession,
    *,
    now: datetime,
    outcome: str,
    article_id: int | None = None,
    recipient_key: str | None = None,
    sender_key: str | None = None,
    client_hash: str | None = None,
    form_token_hash: str | None = None,
) -> ShareRecord:
    record = ShareRecord(
        article_id=article_id, recipient_hash=recipient_key, sender_hash=sender_key,
        client_hash=client_hash, outcome=outcome[:32], created_at=now, form_token_hash=form_token_hash,
    )
    session.add(record)
    await session.flush()
    return record


@dataclass(frozen=True)
class Window:
    count: int
    oldest: datetime | None

    def retry_after(self, now: datetime, length: timedelta) -> float:
        """Seconds until the oldest share in the window leaves it."""
        if self.oldest is None:
            return 1.0
        return max(1.0, (self.oldest + length - now).total_seconds())


async def queued_since(
    session: AsyncSession,
    since: datetime,
    *,
    recipient_key: str | None = None,
    article_id: int | None = None,
    exclude: int | None = None,
) -> Window:
    """Accepted shares since ``since``, optionally to one recipient and of one article."""
    stmt = select(func.count(), func.min(ShareRecord.created_at)).where(
        ShareRecord.outcome == QUEUED, ShareRecord.created_at > since
    )
    if recipient_key is not None:
        stmt = stmt.where(ShareRecord.recipient_hash == recipient_key)
    if article_id is not None:
        stmt = stmt.where(ShareRecord.article_id == article_id)
    if exclude is not None:
        stmt = stmt.where(ShareRecord.id != exclude)
    count, oldest = (await session.execute(stmt)).one()
    return Window(int(count), oldest)


async def form_used(session: AsyncSession, token_hash: str) -> bool:
    """Whether a share was already accepted with this form token."""
    found = await session.scalar(select(ShareRecord.id).where(ShareRecord.form_token_hash == token_hash))
    return found is not None


async def opted_out(session: AsyncSession, key: str) -> bool:
    return (await session.scalar(select(ShareOptOut.id).where(ShareOptOut.address_hash == key))) is not None


async def opt_out(session: AsyncSession, key: str, now: datetime) -> None:
    """Record that the mailbox behind ``key`` wants no shares; repeating it changes nothing."""
    stmt = insert(session, ShareOptOut).values(address_hash=key, created_at=now)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["address_hash"]))


@dataclass(frozen=True)
class ArticleStats:
    article_id: int | None
    title: str | None
    queued: int
    delivered: int
    refused: int


@dataclass(frozen=True)
class Stats:
    articles: list[ArticleStats]
    refusals: dict[str, int]
    delivery: dict[str, int]  # outbox status of the accepted shares


async def stats(session: AsyncSession, since: datetime) -> Stats:
    """Counts per article (accepted, delivered, refused) and refusals per reason since ``since``."""
    is_queued = ShareRecord.outcome == QUEUED
    delivered = OutboxMessage.status == "sent"
    per_article = (
        select(
            ShareRecord.article_id,
            Article.title,
            func.sum(case((is_queued, 1), else_=0)),
            func.sum(case((delivered, 1), else_=0)),
            func.sum(case((is_queued, 0), else_=1)),
        )
        .outerjoin(Article, Article.id == ShareRecord.article_id)
        .outerjoin(OutboxMessage, OutboxMessage.id == ShareRecord.outbox_id)
        .where(ShareRecord.created_at > since)
        .group_by(ShareRecord.article_id, Article.title)
        .order_by(func.count().desc(), ShareRecord.article_id)
    )
    articles = [
        ArticleStats(aid, title, int(q or 0), int(d or 0), int(r or 0))
        for aid, title, q, d, r in await session.execute(per_article)
    ]
    refusals = {
        reason: int(n)
        for reason, n in await session.execute(
            select(ShareRecord.outcome, func.count())
            .where(ShareRecord.created_at > since, ~is_queued)
            .group_by(ShareRecord.outcome)
            .order_by(func.count().desc())
        )
    }
    delivery = {
        status: int(n)
        for status, n in await session.execute(
            select(OutboxMessage.status, func.count())
            .join(ShareRecord, ShareRecord.outbox_id == OutboxMessage.id)
            .where(ShareRecord.created_at > since)
            .group_by(OutboxMessage.status)
        )
    }
    return Stats(articles, refusals, delivery)
