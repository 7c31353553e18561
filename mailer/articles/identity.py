"""Finding an article by the site's own identity: the ``guid`` its feed or CMS gave it, or its
link as a page of the site knows it (``mailer.core.links`` says which differences do not count).
The service's internal number is never looked up here: a site cannot know it, and a number the
site uses as its own id must not land on another article that happens to have it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.links import link_keys
from mailer.core.models import Article


async def by_guid(session: AsyncSession, guid: str) -> int | None:
    return await session.scalar(select(Article.id).where(Article.guid == guid.strip()))


async def by_link(session: AsyncSession, url: str) -> int | None:
    """The article at ``url``: the same link up to tracking parameters, fragment, trailing slash,
    scheme and ``www.``; failing that, the one article whose link differs only in its query
    string (none if several do: a site of ``article.php?id=N`` links must give the id)."""
    try:
        keys = link_keys(url)
    except ValueError:
        return None
    newest_first = (Article.status == "published").desc(), Article.published_at.desc(), Article.id.desc()
    found = await session.scalar(
        select(Article.id).where(Article.link_key == keys.full).order_by(*newest_first).limit(1)
    )
    if found is not None:
        return found
    same_page = list(await session.scalars(select(Article.id).where(Article.link_base_key == keys.base).limit(2)))
    return same_page[0] if len(same_page) == 1 else None


async def find(session: AsyncSession, *, guid: str | None = None, url: str | None = None) -> int | None:
    """By guid, then (for a guid that is itself a link, as RSS guids often are) by link."""
    if guid:
        found = await by_guid(session, guid)
        if found is not None or not guid.strip().lower().startswith(("http://", "https://")):
            return found
        url = url or guid
    return await by_link(session, url) if url else None
