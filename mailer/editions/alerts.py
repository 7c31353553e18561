"""Breaking news: one article sent at once to the subscribers of the ``immediate`` lists.

An alert is an edition of kind ``alert`` per immediate list, period ``alert-{article}``, carrying
the one article; it goes through the same outbox as digests, at share priority. Three guards:

* once per article, ever: ``articles.breaking_at`` is set by compare-and-set, and only the
  request that sets it makes alerts (and (list, period) is unique besides); a re-posted or
  edited article is updated, never sent again;
* a daily cap per list (``daily_cap``, in the site's calendar day): an alert over it is held
  for an editor, who may send it from the editor pages;
* the stale guard: an article published longer ago than ``stale_after_minutes`` (a feed read
  for the first time, an old item re-categorised) is held too, never sent unasked.

Digests are not changed by an alert: they carry the article as usual, marked "عاجل" (see
``mailer.compose.variants``), so the day's record is complete for everyone while the readers
who got the alert recognise it; leaving it out would need a variant per reader.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import serialise
from mailer.core.errors import Conflict, NotFound
from mailer.core.models import ALERT, Article, Edition, EditionArticle, Section
from mailer.core.settings import Settings
from mailer.editions import planning
from mailer.editions.planning import Enqueue, PlanResult

log = logging.getLogger(__name__)

# every alert takes its turn: the daily cap is counted, then written
_TURNS = hashlib.sha256(b"breaking-news alerts").hexdigest()
NO_ALERT_LIST = ("لا توجد نشرة للأخبار العاجلة في الإعدادات: أضف نشرة موعدها immediate "
                 "([lists.KEY] في ملف الإعدادات) ثم أعد تشغيل الخدمة.")


def period(article_id: int) -> str:
    return f"alert-{article_id}"


async def mark_breaking(session: AsyncSession, article_id: int, now: datetime) -> bool:
    """Mark a published article as breaking news; True only for the call that marked it."""
    result: Any = await session.execute(
        update(Article)
        .where(Article.id == article_id, Article.breaking_at.is_(None), Article.status == "published")
        .values(breaking_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


async def alerts_today(session: AsyncSession, settings: Settings, list_name: str, now: datetime) -> int:
    """Alerts of ``list_name`` sent (or being sent) since midnight in the site's time zone."""
    local = now.astimezone(settings.tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    count = await session.scalar(
        select(func.count()).select_from(Edition).where(
            Edition.kind == ALERT, Edition.list_name == list_name,
            Edition.status.in_(("sending", "sent")), Edition.started_at >= midnight,
        )
    )
    return int(count or 0)


async def send_alert(
    session: AsyncSession, settings: Settings, article_id: int, now: datetime, *, enqueue: Enqueue
) -> list[PlanResult]:
    """Alert the immediate lists of a newly breaking article; an empty list if it had already
    been marked (or is not published). Each list's alert is sent, or held with its reason."""
    await serialise(session, _TURNS)
    if not await mark_breaking(session, article_id, now):
        return []
    article, section = (await session.execute(
        select(Article, Section.name)
        .outerjoin(Section, Section.id == Article.section_id)
        .where(Article.id == article_id)
    )).one()
    results = []
    for key in settings.immediate_lists:
        news_list = settings.news_list(key)
        if news_list.sections and section not in news_list.sections:
            continue
        edition, created = await planning.get_or_create(session, key, period(article_id), now, now, kind=ALERT)
        if not created or edition.status != "draft":
            results.append(PlanResult(edition, "exists"))
            continue
        session.add(EditionArticle(edition_id=edition.id, article_id=article_id, position=0))
        await session.flush()
        reason = _held_because(settings, article, now) or await _over_cap(session, settings, key, now)
        if reason is not None:
            await planning.move(session, edition, "draft", "held", status_reason=reason)
            log.warning("alert %s of article %s held: %s", key, article_id, reason)
            results.append(PlanResult(edition, "held"))
        else:  # claimed like any edition: the database holds the once-per-list rule for alerts too
            results.append(await planning.start_sending(session, edition, "draft", now, enqueue=enqueue))
    return results


async def send_now(
    session: AsyncSession, settings: Settings, article_id: int, now: datetime, *, enqueue: Enqueue
) -> list[PlanResult]:
    """An editor's button: like ``send_alert``, but saying why nothing happens."""
    if not settings.immediate_lists:
        raise Conflict("no immediate list is configured", public_message=NO_ALERT_LIST)
    article = await session.get(Article, article_id)
    if article is None:
        raise NotFound(f"no article {article_id}", public_message="لا يوجد خبر بهذا الرقم.")
    if article.status != "published":
        raise Conflict(f"article {article_id} is not published", public_message="هذا الخبر غير منشور.")
    if article.breaking_at is not None:
        raise Conflict(f"article {article_id} was marked breaking at {article.breaking_at}",
                       public_message="أُرسل هذا الخبر عاجلاً من قبل، والخبر العاجل لا يُرسل إلا مرة واحدة.")
    return await send_alert(session, settings, article_id, now, enqueue=enqueue)


def _held_because(settings: Settings, article: Article, now: datetime) -> str | None:
    age = now - article.published_at
    if age > timedelta(minutes=settings.stale_after_minutes):
        minutes = int(age.total_seconds() // 60)
        return (f"published {minutes // 60} h {minutes % 60} min ago, more than the "
                f"{settings.stale_after_minutes} min allowed for breaking news: waiting for an editor")
    return None


async def _over_cap(session: AsyncSession, settings: Settings, key: str, now: datetime) -> str | None:
    cap = settings.news_list(key).cap
    sent = await alerts_today(session, settings, key, now)
    if sent >= cap:
        return f"daily cap reached ({sent} of {cap} alerts today): waiting for an editor"
    return None
