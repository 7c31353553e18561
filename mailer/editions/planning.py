"""Editions: which articles go into a list's digest for one scheduled time, and for whom.

``plan`` is idempotent: the (list, period) key is unique, and the status moves out of ``draft``
by compare-and-set, so a second trigger, a restart or a second scheduler on another machine
never makes a second edition or enqueues twice. An edition whose time is further in the past
than ``stale_after_minutes`` is held for an editor instead of being sent.

An edition's articles are refreshed while it is a draft (``refresh_articles``): untouched, it is
simply the newest articles of its window; once an editor has curated it, their choice, order and
exclusions are kept and only articles that arrived since are added after them.

Only articles no edition of the list has carried are picked, and an edition claims its articles
when it starts sending (``claims``): an article reaches a subscriber at most once per list. A
held edition sent later sends only what no later edition carried; with nothing left it is
``superseded``. Scheduled runs never plan a period from before the installation or before the
list's last edition that went out (``catch_up_floor``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import insert
from mailer.core.installation import installed_at
from mailer.core.models import Article, Edition, EditionArticle, Section
from mailer.core.settings import Settings
from mailer.editions import claims
from mailer.editions.schedule import previous_fire

log = logging.getLogger(__name__)

ALL_SECTIONS = "all"
WENT_OUT = ("sending", "sent", "paused")  # editions whose articles have (begun to) go out

# Enqueues an edition for its recipients (``mailer.delivery.outbox.enqueue_edition``); planning
# decides *whether*, the outbox owns the rows.
Enqueue = Callable[[AsyncSession, Edition, datetime], Awaitable[int]]


def period_key(fire: datetime, settings: Settings) -> str:
    """The period an edition covers, named by its scheduled time in the site's time zone."""
    return fire.astimezone(settings.tz).strftime("%Y-%m-%dT%H:%M")


def period_start(settings: Settings, list_name: str, fire: datetime) -> datetime:
    """Where the period that ``fire`` closes begins: the list's previous fire."""
    since = previous_fire(settings.cron_for(list_name), settings.timezone, fire)
    return since or fire - timedelta(days=1)


async def window_start(session: AsyncSession, settings: Settings, list_name: str, fire: datetime) -> datetime:
    """Where the window of the edition scheduled at ``fire`` begins: its period's start, or the
    list's last edition that went out if that is earlier (fires missed while the service was
    down, or skipped by the catch-up floor, lose no news; what went out is never picked again)."""
    start = period_start(settings, list_name, fire)
    last = await session.scalar(
        select(func.max(Edition.scheduled_at)).where(
            Edition.list_name == list_name, Edition.status.in_(WENT_OUT), Edition.scheduled_at < fire
        )
    )
    return min(start, last) if last is not None else start


@dataclass(frozen=True)
class PlanResult:
    edition: Edition | None  # None: the period was not planned at all ("too old")
    action: str  # sending | held | empty | superseded | exists | too old
    enqueued: int = 0
    note: str = ""  # "too old": why

    def describe(self) -> str:
        e = self.edition
        if e is None:
            return f"not planned: {self.note}"
        name = f"edition {e.id} ({e.list_name} {e.period_key})"
        text = {
            "sending": f"{name} is being sent to {self.enqueued} subscribers",
            "held": f"{name} is held: {e.status_reason}",
            "empty": f"{name} has no new articles: nothing to send",
            "superseded": f"{name} is superseded: {e.status_reason}",
            "exists": f"{name} already exists ({e.status}): nothing to do",
        }
        return text[self.action]


async def catch_up_floor(session: AsyncSession, list_name: str, now: datetime) -> tuple[datetime, str]:
    """The earliest scheduled time a run may still plan for the list, and what sets it: the
    installation's start, or the list's latest edition that went out (its articles are sent)."""
    floor, what = await installed_at(session, now), "the installation"
    last = await session.scalar(
        select(func.max(Edition.scheduled_at)).where(Edition.list_name == list_name, Edition.status.in_(WENT_OUT))
    )
    if last is not None and last > floor:
        floor, what = last, "the list's last edition that went out"
    return floor, what


async def select_articles(
    session: AsyncSession, list_name: str, since: datetime, until: datetime, limit: int,
    sections: Sequence[str] = (),
) -> list[int]:
    """Published articles of the window that no edition of this list has carried, from the
    list's ``sections`` (names) when it names any."""
    stmt = (
        select(Article.id)
        .where(
            Article.status == "published",
            Article.published_at > since,
            Article.published_at <= until,
            ~claims.claimed_in(list_name, Article.id),
        )
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(limit)
    )
    if sections:
        stmt = stmt.where(Article.section_id.in_(select(Section.id).where(Section.name.in_(sections))))
    return list((await session.scalars(stmt)).all())


async def refresh_articles(
    session: AsyncSession, edition: Edition, since: datetime, until: datetime, limit: int,
    sections: Sequence[str] = (),
) -> None:
    """Bring a draft's articles up to date with what has been published in its window.

    Untouched by an editor, the draft is the newest ``limit`` articles, newest first, exactly
    as if it were made now. Once curated, the editor's rows stay as they are (order, and the
    excluded ones stay excluded, so they never come back); articles that have since been
    withdrawn or sent in another edition of the list are taken out, and newly published ones
    are added after the editor's choice while there is room.
    """
    rows = list(
        await session.scalars(
            select(EditionArticle)
            .where(EditionArticle.edition_id == edition.id)
            .order_by(EditionArticle.position)
        )
    )
    candidates = await select_articles(session, edition.list_name, since, until, limit, sections)
    if edition.curated_at is None:
        if [r.article_id for r in rows] != candidates:
            await session.execute(delete(EditionArticle).where(EditionArticle.edition_id == edition.id))
            session.add_all(
                EditionArticle(edition_id=edition.id, article_id=article_id, position=position)
                for position, article_id in enumerate(candidates)
            )
            await session.flush()
        return
    gone = await _no_longer_eligible(session, edition, [r.article_id for r in rows if not r.excluded])
    if gone:
        await session.execute(
            delete(EditionArticle).where(
                EditionArticle.edition_id == edition.id, EditionArticle.article_id.in_(gone)
            )
        )
    known = {r.article_id for r in rows}
    room = limit - sum(1 for r in rows if not r.excluded and r.article_id not in gone)
    new = [a for a in candidates if a not in known][: max(room, 0)]
    start = max((r.position for r in rows), default=-1) + 1
    session.add_all(
        EditionArticle(edition_id=edition.id, article_id=article_id, position=start + offset)
        for offset, article_id in enumerate(new)
    )
    await session.flush()


async def _no_longer_eligible(session: AsyncSession, edition: Edition, article_ids: list[int]) -> set[int]:
    """Of ``article_ids``, those withdrawn or already carried by another edition of the list."""
    if not article_ids:
        return set()
    stmt = select(Article.id).where(
        Article.id.in_(article_ids),
        (Article.status != "published") | claims.claimed_in(edition.list_name, Article.id),
    )
    return set((await session.scalars(stmt)).all())


async def get_or_create(
    session: AsyncSession, list_name: str, key: str, fire: datetime, now: datetime, *, kind: str = "digest"
) -> tuple[Edition, bool]:
    stmt = (
        insert(session, Edition)
        .values(kind=kind, list_name=list_name, period_key=key, scheduled_at=fire, status="draft", created_at=now)
        .on_conflict_do_nothing(index_elements=["list_name", "period_key"])
        .returning(Edition.id)
    )
    created = (await session.execute(stmt)).scalar() is not None
    edition = (
        await session.scalars(
            select(Edition)
            .where(Edition.list_name == list_name, Edition.period_key == key)
            .with_for_update()  # editors' changes to a draft wait for a plan in progress
            .execution_options(populate_existing=True)
        )
    ).one()
    return edition, created


async def move(session: AsyncSession, edition: Edition, old: str, new: str, **values: object) -> bool:
    """Compare-and-set on the edition's status; only one caller wins each transition."""
    result = await session.execute(
        update(Edition)
        .where(Edition.id == edition.id, Edition.status == old)
        .values(status=new, **values)
        .execution_options(synchronize_session=False)
    )
    moved = bool(result.rowcount)  # type: ignore[attr-defined]
    if moved:
        await session.refresh(edition)
        log.info("edition %s: %s -> %s", edition.id, old, new,
                 extra={"event": "edition", "edition_id": edition.id, "list": edition.list_name,
                        "from": old, "status": new})
    return moved


async def plan(
    session: AsyncSession,
    settings: Settings,
    list_name: str,
    fire: datetime,
    now: datetime,
    *,
    enqueue: Enqueue,
    force: bool = False,
    key: str | None = None,
) -> PlanResult:
    """Create (or find) the edition of ``list_name`` for ``fire`` and, if due, enqueue it.

    ``force`` (an edition on demand) skips the stale guard and the catch-up floor, and starts
    from the editor's curation of the list's next edition, so what they dropped stays out."""
    if not force:
        floor, what = await catch_up_floor(session, list_name, now)
        if fire < floor:
            note = f"{list_name} at {fire.isoformat()} is before {what} ({floor.isoformat()})"
            return PlanResult(None, "too old", note=note)
    edition, created = await get_or_create(session, list_name, key or period_key(fire, settings), fire, now)
    if edition.status != "draft":
        return PlanResult(edition, "exists")
    if created and force:
        await adopt_curation(session, edition)
    since = await window_start(session, settings, list_name, fire)
    await refresh_articles(session, edition, since, now, settings.max_articles,
                           settings.news_list(list_name).sections)
    if not await article_rows(session, edition.id):
        await move(session, edition, "draft", "empty", status_reason="no new articles")
        return PlanResult(edition, "empty")
    stale_after = timedelta(minutes=settings.stale_after_minutes)
    if not force and now - fire > stale_after:
        late = int((now - fire).total_seconds() // 60)
        reason = (f"scheduled {late // 60} h {late % 60} min ago, more than the "
                  f"{settings.stale_after_minutes} min allowed: waiting for an editor")
        await move(session, edition, "draft", "held", status_reason=reason)
        log.warning("edition %s held: %s", edition.id, reason)
        return PlanResult(edition, "held")
    return await start_sending(session, edition, "draft", now, enqueue=enqueue)


async def start_sending(
    session: AsyncSession, edition: Edition, old: str, now: datetime, *, enqueue: Enqueue
) -> PlanResult:
    """Move the edition from ``old`` to sending, claim its articles and enqueue it; if another
    edition of the list has claimed every one of them meanwhile, it is superseded instead."""
    if not await move(session, edition, old, "sending", started_at=now, status_reason=None):
        return PlanResult(edition, "exists")
    if not await claims.claim(session, edition, now):
        others = sorted(set((await claims.sent_elsewhere(session, edition.id)).values()))
        reason = "its articles went out in edition " + ", ".join(str(o) for o in others)
        await move(session, edition, "sending", "superseded", finished_at=now, status_reason=reason[:300])
        return PlanResult(edition, "superseded")
    enqueued = await enqueue(session, edition, now)
    await claims.supersede_held(session, edition.list_name, now)
    return PlanResult(edition, "sending", enqueued)


async def release(session: AsyncSession, edition: Edition, now: datetime, *, enqueue: Enqueue) -> PlanResult:
    """An editor's go for a held (or draft) edition: enqueue it now, with only the articles no
    other edition of the list has carried."""
    for old in ("held", "draft"):
        result = await start_sending(session, edition, old, now, enqueue=enqueue)
        if result.action != "exists":
            return result
    return PlanResult(edition, "exists")


async def adopt_curation(session: AsyncSession, edition: Edition) -> None:
    """Start a new edition from the list's most recently curated draft: the editor's order and
    the articles they dropped (``refresh_articles`` then drops what has gone, adds what is new)."""
    source = (
        await session.scalars(
            select(Edition)
            .where(Edition.list_name == edition.list_name, Edition.status == "draft",
                   Edition.curated_at.is_not(None), Edition.id != edition.id)
            .order_by(Edition.curated_at.desc())
            .limit(1)
        )
    ).first()
    if source is None:
        return
    rows = await session.execute(
        select(EditionArticle.article_id, EditionArticle.position, EditionArticle.excluded)
        .where(EditionArticle.edition_id == source.id)
    )
    session.add_all(
        EditionArticle(edition_id=edition.id, article_id=article_id, position=position, excluded=excluded)
        for article_id, position, excluded in rows
    )
    edition.curated_at, edition.curated_by = source.curated_at, source.curated_by
    await session.flush()


async def article_rows(session: AsyncSession, edition_id: int) -> list[tuple[Article, str | None]]:
    """The articles the edition carries, in order, each with its section's name."""
    stmt = (
        select(Article, Section.name)
        .join(EditionArticle, and_(EditionArticle.article_id == Article.id,
                                   EditionArticle.edition_id == edition_id))
        .outerjoin(Section, Section.id == Article.section_id)
        .where(claims.carried())
        .order_by(EditionArticle.position)
    )
    return [(article, section) for article, section in (await session.execute(stmt)).all()]


def variant_key(chosen_sections: frozenset[int], present_sections: frozenset[int | None]) -> str:
    """Subscribers who get the same articles share a variant; "" means nothing for them."""
    if not chosen_sections:
        return ALL_SECTIONS
    return ",".join(str(s) for s in sorted(chosen_sections & {s for s in present_sections if s}))


def variant_sections(key: str) -> frozenset[int] | None:
    """The sections of a variant key; None means all sections."""
    if key == ALL_SECTIONS:
        return None
    return frozenset(int(s) for s in key.split(",") if s)
