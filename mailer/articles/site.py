"""The news site's home page: ``MAILER_SITE_URL``, else the channel link of the site's feed,
which ingest remembers each time it reads the feed. Mail links "زيارة الموقع" and the logo there."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import insert, utcnow
from mailer.core.models import SiteFact
from mailer.core.settings import Settings

CHANNEL_LINK = "channel_link"


async def remember_channel(session: AsyncSession, link: str) -> None:
    """Keep the feed's channel link (already checked to be an http(s) URL)."""
    now = utcnow()
    await session.execute(
        insert(session, SiteFact)
        .values(key=CHANNEL_LINK, value=link, updated_at=now)
        .on_conflict_do_update(index_elements=["key"], set_={"value": link, "updated_at": now},
                               where=SiteFact.value != link)
    )


async def home_url(session: AsyncSession, settings: Settings) -> str | None:
    """Where "visit the site" leads; None when neither the setting nor a feed has said."""
    if settings.site_url:
        return settings.site_url
    return await session.scalar(select(SiteFact.value).where(SiteFact.key == CHANNEL_LINK))
