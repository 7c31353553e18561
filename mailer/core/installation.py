"""This installation's birth, kept with the data: the scheduler's catch-up never plans a period
from before it (a new installation has sent nothing yet, so there is nothing to catch up)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import insert
from mailer.core.models import Installation


async def installed_at(session: AsyncSession, now: datetime) -> datetime:
    """When this installation started; the first call (the first start) records ``now``."""
    await session.execute(
        insert(session, Installation).values(id=1, installed_at=now).on_conflict_do_nothing(index_elements=["id"])
    )
    await session.execute(  # the row the migration made with the installation's id, on a new database
        update(Installation).where(Installation.id == 1, Installation.installed_at.is_(None)).values(installed_at=now)
    )
    found = await session.scalar(select(Installation.installed_at).where(Installation.id == 1))
    assert found is not None
    return found
