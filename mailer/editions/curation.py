"""Editors' say over an edition before it goes out: open the next one, drop or restore an
article, reorder, hold, resume or send a held one now.

The next edition of a list is the draft row for the list's next fire time, made when an editor
first opens it; ``planning.plan`` later sends that same row. Every change starts with a
compare-and-set on the edition (status still draft or held), which also locks the row, so a
change can never slip into an edition that has started sending.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.errors import Conflict, NotFound
from mailer.core.models import ALERT, Edition, EditionArticle
from mailer.core.settings import Settings
from mailer.editions import planning
from mailer.editions.planning import PlanResult
from mailer.editions.schedule import next_fire

EDITABLE = ("draft", "held")
STATUS_LABELS = {
    "draft": "مسودة",
    "held": "موقوف بانتظار محرر",
    "sending": "قيد الإرسال",
    "sent": "أُرسل",
    "empty": "بلا أخبار",
    "paused": "متوقف: رفض خادم البريد الرسالة",
    "superseded": "أُرسلت أخباره في أعداد أخرى",
}


def upcoming_fire(settings: Settings, list_name: str, now: datetime) -> datetime:
    fire = next_fire(settings.cron_for(list_name), settings.timezone, now)
    if fire is None:
        raise NotFound(f"the {list_name} list has no next scheduled time")
    return fire


async def open_upcoming(session: AsyncSession, settings: Settings, list_name: str, now: datetime) -> Edition:
    """The next edition of ``list_name``, made as a draft if need be and brought up to date."""
    fire = upcoming_fire(settings, list_name, now)
    edition, _ = await planning.get_or_create(
        session, list_name, planning.period_key(fire, settings), fire, now
    )
    if edition.status == "draft":
        since = await planning.window_start(session, settings, list_name, fire)
        await planning.refresh_articles(session, edition, since, now, settings.max_articles,
                                        settings.news_list(list_name).sections)
    return edition


def _not_editable(edition: Edition) -> Conflict:
    label = STATUS_LABELS.get(edition.status, edition.status)
    return Conflict(
        f"edition {edition.id} is {edition.status}: it can no longer be changed",
        public_message=f"لا يمكن تعديل هذا العدد بعد الآن: حالته «{label}».",
    )


async def _edition(session: AsyncSession, edition_id: int) -> Edition:
    edition = await session.get(Edition, edition_id, populate_existing=True)
    if edition is None:
        raise NotFound(f"no edition {edition_id}", public_message="هذا العدد غير موجود.")
    return edition


async def _begin_change(session: AsyncSession, edition_id: int, editor: str, now: datetime) -> Edition:
    """Compare-and-set: mark the edition curated only while it is still a draft or held."""
    result: Any = await session.execute(
        update(Edition)
        .where(Edition.id == edition_id, Edition.status.in_(EDITABLE))
        .values(curated_at=now, curated_by=editor)
        .execution_options(synchronize_session=False)
    )
    edition = await _edition(session, edition_id)
    if not result.rowcount:
        raise _not_editable(edition)
    return edition


async def _row(session: AsyncSession, edition_id: int, article_id: int) -> EditionArticle:
    row = await session.get(EditionArticle, (edition_id, article_id))
    if row is None:
        raise NotFound(f"article {article_id} is not in edition {edition_id}",
                       public_message="هذا الخبر ليس في هذا العدد.")
    return row


async def set_excluded(
    session: AsyncSession, settings: Settings, edition_id: int, article_id: int, excluded: bool,
    editor: str, now: datetime,
) -> None:
    """Drop an article from the edition, or bring a dropped one back."""
    await _begin_change(session, edition_id, editor, now)
    row = await _row(session, edition_id, article_id)
    if row.excluded == excluded:
        return
    if not excluded and len(await _included(session, edition_id)) >= settings.max_articles:
        raise Conflict(
            f"edition {edition_id} already has {settings.max_articles} articles",
            public_message=f"العدد ممتلئ ({settings.max_articles} خبراً): احذف خبراً قبل إعادة آخر.",
        )
    row.excluded = excluded
    await session.flush()


async def _included(session: AsyncSession, edition_id: int) -> list[EditionArticle]:
    return list(
        await session.scalars(
            select(EditionArticle)
            .where(EditionArticle.edition_id == edition_id, EditionArticle.excluded.is_(False))
            .order_by(EditionArticle.position)
        )
    )


async def move(
    session: AsyncSession, edition_id: int, article_id: int, step: int, editor: str, now: datetime
) -> None:
    """Move an article ``step`` places (-1 up, +1 down) among the articles the edition carries."""
    await _begin_change(session, edition_id, editor, now)
    rows = await _included(session, edition_id)
    index = next((i for i, r in enumerate(rows) if r.article_id == article_id), None)
    if index is None:
        raise NotFound(f"article {article_id} is not among the articles of edition {edition_id}",
                       public_message="هذا الخبر ليس بين أخبار هذا العدد.")
    other = index + step
    if 0 <= other < len(rows):
        rows[index].position, rows[other].position = rows[other].position, rows[index].position
        await session.flush()


async def hold(session: AsyncSession, edition_id: int, editor: str, now: datetime) -> None:
    """Keep a draft from going out at its time until an editor resumes or sends it."""
    edition = await _edition(session, edition_id)
    if not await planning.move(session, edition, "draft", "held", status_reason=f"held by editor {editor}"):
        raise _not_editable(edition)


async def resume(session: AsyncSession, edition_id: int, now: datetime) -> None:
    """Put a held edition back on its schedule; only while its time is still ahead."""
    edition = await _edition(session, edition_id)
    if edition.kind == ALERT:
        raise Conflict(f"edition {edition_id} is a breaking-news alert: it has no schedule to go back to",
                       public_message="هذا تنبيه عاجل وليس له موعد: أرسله الآن أو اتركه موقوفاً.")
    if edition.status == "held" and edition.scheduled_at <= now:
        raise Conflict(
            f"edition {edition_id} was due at {edition.scheduled_at}: send it now instead",
            public_message="فات موعد هذا العدد؛ أرسله الآن أو اتركه موقوفاً.",
        )
    if not await planning.move(session, edition, "held", "draft", status_reason=None):
        raise _not_editable(edition)


async def send_held(
    session: AsyncSession, edition_id: int, now: datetime, *, enqueue: planning.Enqueue
) -> PlanResult:
    """An editor's go for a held edition: ``planning.release`` enqueues it now, with only the
    articles that no later edition of the list has carried; with none left it cannot be sent."""
    edition = await _edition(session, edition_id)
    if edition.status != "held":
        raise _not_editable(edition)
    if not await planning.article_rows(session, edition.id):
        raise Conflict(
            f"edition {edition_id} has nothing left to send: its articles went out in other editions",
            public_message="أُرسلت كل أخبار هذا العدد في أعداد أخرى، فلا يمكن إرساله؛ لا يصل خبرٌ إلى قارئ مرتين.",
        )
    result = await planning.release(session, edition, now, enqueue=enqueue)
    if result.action == "exists":
        raise _not_editable(edition)
    return result
