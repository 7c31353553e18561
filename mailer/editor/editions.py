"""What the editions pages show: the editions a page at a time (newest first, by keyset), and for
one edition its progress, what it caused (bounces, complaints, unsubscribes) and its articles by
clicks. Reads only; every figure is a query, never a counter kept in memory.

An unsubscribe is put down to an edition when it was the last one the subscriber received before
leaving (the unsubscribe link names the list, not the edition).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mailer.core.db import newest_first
from mailer.core.errors import NotFound
from mailer.core.models import Article, BounceEvent, Edition, OutboxMessage, TrackingCount
from mailer.delivery import outbox
from subscribers.models import Subscriber

PAGE_SIZE = 25
TOP_ARTICLES = 10


@dataclass(frozen=True)
class ArticleClicks:
    article_id: int
    title: str | None  # None: links that are no article (the site, the archive)
    readers: int
    machines: int


@dataclass
class Report:
    edition: Edition
    counts: dict[str, int]
    total: int
    bounces: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    clicks: int = 0
    machine_clicks: int = 0
    opens: int = 0
    machine_opens: int = 0
    top: list[ArticleClicks] = field(default_factory=list)

    @property
    def done_percent(self) -> int:
        """How much of the edition has been dealt with (sent, skipped, failed ...): 0 to 100."""
        if not self.total:
            return 0
        return int(100 * (self.total - self.counts.get("pending", 0)) / self.total)


async def page(session: AsyncSession, before: int | None, size: int = PAGE_SIZE) -> tuple[list[Edition], int | None]:
    """Editions newest first, those older than ``before`` (an id); and the id the next page starts
    before, if there is one."""
    return await newest_first(session, Edition, before, size)


async def report(session: AsyncSession, edition_id: int) -> Report:
    edition = await session.get(Edition, edition_id)
    if edition is None:
        raise NotFound(f"no edition {edition_id}", public_message="هذا العدد غير موجود.")
    shown = outbox.shown_counts((await outbox.counts(session, [edition_id])).get(edition_id, {}))
    out = Report(edition, shown, sum(shown.values()))
    for kind, n in await session.execute(
        select(BounceEvent.kind, func.count())
        .join(OutboxMessage, OutboxMessage.id == BounceEvent.outbox_id)
        .where(OutboxMessage.edition_id == edition_id)
        .group_by(BounceEvent.kind)
    ):
        if kind == "complaint":
            out.complaints += n
        elif kind in ("hard", "soft"):
            out.bounces += n
    out.unsubscribes = await _unsubscribes(session, edition_id)
    per_article: dict[int, list[int]] = {}
    for article_id, kind, who, n in await session.execute(
        select(TrackingCount.article_id, TrackingCount.kind, TrackingCount.audience, TrackingCount.count)
        .where(TrackingCount.edition_id == edition_id)
    ):
        machine = who == "machine"
        if kind == "open":
            out.opens += 0 if machine else n
            out.machine_opens += n if machine else 0
            continue
        out.clicks += 0 if machine else n
        out.machine_clicks += n if machine else 0
        pair = per_article.setdefault(article_id, [0, 0])
        pair[1 if machine else 0] += n
    titles: dict[int, str] = {}
    if per_article:
        for aid, title in await session.execute(
            select(Article.id, Article.title).where(Article.id.in_([a for a in per_article if a]))
        ):
            titles[aid] = title
    ranked = sorted(per_article.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:TOP_ARTICLES]
    out.top = [ArticleClicks(a, titles.get(a), r, m) for a, (r, m) in ranked]
    return out


async def _unsubscribes(session: AsyncSession, edition_id: int) -> int:
    """Subscribers who left after this edition reached them and before any later one did."""
    got = OutboxMessage
    later = aliased(OutboxMessage)
    newer = (
        select(later.id)
        .where(later.subscriber_id == got.subscriber_id, later.edition_id.is_not(None),
               later.status == "sent", later.sent_at > got.sent_at,
               later.sent_at <= Subscriber.unsubscribed_at)
        .exists()
    )
    count = await session.scalar(
        select(func.count())
        .select_from(got)
        .join(Subscriber, Subscriber.id == got.subscriber_id)
        .where(got.edition_id == edition_id, got.status == "sent",
               and_(Subscriber.status == "unsubscribed", Subscriber.unsubscribed_at >= got.sent_at), ~newer)
    )
    return int(count or 0)
