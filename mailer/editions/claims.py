"""The rule that an article reaches a subscriber at most once per list, kept by the database.

When an edition starts sending it claims its articles in ``list_articles``, whose key is (list,
article): an article another edition of the list has claimed cannot be claimed again, so no two
editions of a list carry the same article, whatever editors press and whatever restarts,
catch-ups or workers do. With the outbox's one row per (edition, subscriber), no subscriber
gets an article twice in a list.

The cost is one row per article an edition carries (about 20), not one per article and
subscriber (2,000,000 for 20 articles to 100,000 subscribers): see ``bench/enqueue.py``.

What an edition carries (``carried``) is what it has not lost to another edition: for one that
is sending or sent, exactly its claims; for a draft or a held one, what it would still send.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mailer.core.db import insert
from mailer.core.models import Edition, EditionArticle, ListArticle


def taken_elsewhere() -> Any:
    """SQL: the ``EditionArticle`` row's article is carried by another edition of its list."""
    owner = aliased(Edition)
    return exists().where(
        owner.id == EditionArticle.edition_id,
        ListArticle.list_name == owner.list_name,
        ListArticle.article_id == EditionArticle.article_id,
        ListArticle.edition_id != EditionArticle.edition_id,
    )


def carried() -> Any:
    """SQL: the ``EditionArticle`` row is one its edition carries: not dropped by an editor and
    not sent in another edition of the list."""
    return and_(EditionArticle.excluded.is_(False), ~taken_elsewhere())


def claimed_in(list_name: str, article_id: Any) -> Any:
    """SQL: ``article_id`` (a column or a value) has been claimed by an edition of ``list_name``."""
    return exists().where(ListArticle.list_name == list_name, ListArticle.article_id == article_id)


async def claim(session: AsyncSession, edition: Edition, now: datetime) -> int:
    """Claim the articles the edition carries; returns how many it holds. Two editions claiming
    at once: the key lets one win each article (the other waits for it on PostgreSQL)."""
    chosen = select(
        EditionArticle.article_id,
        EditionArticle.edition_id,
    ).where(EditionArticle.edition_id == edition.id, EditionArticle.excluded.is_(False))
    rows = [
        {"list_name": edition.list_name, "article_id": article_id, "edition_id": edition_id, "claimed_at": now}
        for article_id, edition_id in await session.execute(chosen)
    ]
    if rows:
        await session.execute(
            insert(session, ListArticle).values(rows).on_conflict_do_nothing(
                index_elements=["list_name", "article_id"]
            )
        )
    held = await session.scalar(
        select(func.count()).select_from(ListArticle).where(ListArticle.edition_id == edition.id)
    )
    return int(held or 0)


async def sent_elsewhere(session: AsyncSession, edition_id: int) -> dict[int, int]:
    """The edition's articles (dropped ones too) that another edition of its list carries:
    article id -> that edition's id."""
    owner = aliased(Edition)
    stmt = (
        select(EditionArticle.article_id, ListArticle.edition_id)
        .join(owner, owner.id == EditionArticle.edition_id)
        .join(ListArticle, and_(ListArticle.list_name == owner.list_name,
                                ListArticle.article_id == EditionArticle.article_id))
        .where(EditionArticle.edition_id == edition_id, ListArticle.edition_id != edition_id)
    )
    return {article: other for article, other in await session.execute(stmt)}


async def supersede_held(session: AsyncSession, list_name: str, now: datetime) -> list[int]:
    """Held editions of the list that carry nothing any more (everything they had went out in
    other editions) become ``superseded``: there is nothing left to send; returns their ids."""
    has_any = exists().where(EditionArticle.edition_id == Edition.id)
    carries = exists().where(EditionArticle.edition_id == Edition.id, carried())
    result: Any = await session.execute(
        update(Edition)
        .where(Edition.list_name == list_name, Edition.status == "held", has_any, ~carries)
        .values(status="superseded", status_reason="its articles went out in later editions",
                finished_at=now)
        .returning(Edition.id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars().all())
