"""The public web versions of digests ("view in browser") and each list's archive of past
editions: only editions that went out (sending or sent), every article of the edition, and no
personal part (no greeting, no unsubscribe or preference link). Each web version is rendered
once per process, in a render thread, then kept: editions do not change once they went out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.compose.render import Renderer
from mailer.compose.variants import digest_view
from mailer.core import arabic
from mailer.core.db import Database
from mailer.core.errors import NotFound
from mailer.core.headers import Identity
from mailer.core.memo import Memo
from mailer.core.models import Article, Edition, EditionArticle
from mailer.core.offload import off_loop
from mailer.editions.planning import ALL_SECTIONS

PUBLISHED = ("sending", "sent")
ARCHIVE_PAGE = 100  # editions listed per list, newest first


@dataclass(frozen=True)
class PastEdition:
    id: int
    day: date
    date_text: str  # in Arabic, e.g. "الأربعاء، 25 نوفمبر 2026"
    lead_title: str
    url: str


def _not_found(what: str) -> NotFound:
    return NotFound(what, public_message="لا يوجد عدد منشور بهذا العنوان.")


async def past_editions(session: AsyncSession, renderer: Renderer, list_name: str) -> list[PastEdition]:
    """The list's editions that went out, newest first, each with its lead headline."""
    settings = renderer.settings
    first = (
        select(EditionArticle.edition_id, func.min(EditionArticle.position).label("position"))
        .where(EditionArticle.excluded.is_(False))
        .group_by(EditionArticle.edition_id)
        .subquery()
    )
    stmt = (
        select(Edition, Article.title)
        .join(first, first.c.edition_id == Edition.id)
        .join(EditionArticle, and_(EditionArticle.edition_id == Edition.id,
                                   EditionArticle.position == first.c.position))
        .join(Article, Article.id == EditionArticle.article_id)
        .where(Edition.list_name == list_name, Edition.status.in_(PUBLISHED))
        .order_by(Edition.scheduled_at.desc(), Edition.id.desc())
        .limit(ARCHIVE_PAGE)
    )
    identity = Identity.for_list(settings, list_name)
    out = []
    for edition, title in await session.execute(stmt):
        day = edition.scheduled_at.astimezone(settings.tz).date()
        out.append(PastEdition(
            edition.id, day, arabic.gregorian_date(day, locale=settings.date_locale, style=settings.digits),
            title, identity.web_url(edition.id),
        ))
    return out


class WebVersions:
    """The web version of each published edition, as HTML, rendered once per process."""

    def __init__(self, db: Database, renderer: Renderer, size: int = 64) -> None:
        self.db = db
        self.renderer = renderer
        self._html: Memo[int, str] = Memo(size)

    async def html(self, list_name: str, edition_id: int) -> str:
        async with self.db.transaction() as session:
            edition = await session.get(Edition, edition_id)
            if edition is None or edition.list_name != list_name or edition.status not in PUBLISHED:
                raise _not_found(f"no published edition {edition_id} of {list_name!r}")
        return await self._html.get(edition_id, lambda: self._render(edition))

    async def _render(self, edition: Edition) -> str:
        async with self.db.transaction() as session:
            view = await digest_view(session, self.renderer.settings, edition, ALL_SECTIONS)
        identity = Identity.for_list(self.renderer.settings, edition.list_name)
        rendered = await off_loop(self.renderer.digest, view, identity, web=True)
        return rendered.html
