"""The suppression list: addresses never to be mailed again, checked right before each send."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.db import insert
from subscribers.models import Suppression


def address_hash(address: str) -> str:
    """A stable hash of an address, so a forgotten address can stay suppressed without being kept."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


async def suppress(session: AsyncSession, address: str, reason: str) -> None:
    """Add an address; the first reason recorded is kept."""
    stmt = insert(session, Suppression).values(address_hash=address_hash(address), reason=reason)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["address_hash"]))


async def suppressed(session: AsyncSession, addresses: Iterable[str]) -> set[str]:
    """Those of ``addresses`` that are on the list (one query for a whole batch)."""
    by_hash = {address_hash(a): a for a in addresses}
    if not by_hash:
        return set()
    rows = await session.scalars(
        select(Suppression.address_hash).where(Suppression.address_hash.in_(list(by_hash)))
    )
    return {by_hash[h] for h in rows}


async def is_suppressed(session: AsyncSession, address: str) -> bool:
    return bool(await suppressed(session, [address]))
