"""The suppression list: addresses never to be mailed again, checked right before each send."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import insert, one_of
from subscribers.addresses import canonical
from subscribers.models import Suppression

# weakest first: a stronger reason replaces a weaker one, never the other way round
# "operator": an editor blocked the address in the console (see flows.suppress_by_operator)
REASONS = ("unsubscribe", "operator", "hard_bounce", "complaint", "forget")
# The one exception to "never again": someone who unsubscribed may come back by asking for it on
# the subscribe form, so the confirmation mail of that request (and only it) may reach them; the
# suppression is lifted when they confirm. Bounces, complaints and erasure block everything.
REOPT_IN_KINDS = frozenset({"confirm"})


def address_hash(address: str) -> str:
    """A stable hash of an address, so a forgotten address can stay suppressed without being kept.
    ``user@xn--mgbh0fb.xn--mgbtx2b`` and ``User@مثال.عراق`` hash alike."""
    return hashlib.sha256(canonical(address).encode()).hexdigest()


def blocks(reason: str, kind: str) -> bool:
    """Whether a suppression for ``reason`` stops a message of ``kind`` (pure; the sender asks)."""
    return not (reason == "unsubscribe" and kind in REOPT_IN_KINDS)


async def suppress(session: AsyncSession, address: str, reason: str) -> None:
    """Add an address; a reason already there stays unless ``reason`` is stronger."""
    if reason not in REASONS:
        raise ValueError(f"reason {reason!r} is not one of {', '.join(REASONS)}")
    key = address_hash(address)
    stmt = insert(session, Suppression).values(address_hash=key, reason=reason)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["address_hash"]))
    weaker = REASONS[: REASONS.index(reason)]
    if weaker:
        await session.execute(
            update(Suppression)
            .where(Suppression.address_hash == key, Suppression.reason.in_(weaker))
            .values(reason=reason)
        )


async def reasons(
    session: AsyncSession, addresses: Iterable[str], hashes: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The reason for each of ``addresses`` that is on the list (one query for a whole batch).
    ``hashes``: their ``address_hash`` where made already (an import makes them off the loop)."""
    known = hashes or {}
    by_hash: dict[str, list[str]] = {}
    for a in addresses:
        by_hash.setdefault(known.get(a) or address_hash(a), []).append(a)
    if not by_hash:
        return {}
    rows = await session.execute(
        select(Suppression.address_hash, Suppression.reason).where(
            one_of(session, Suppression.address_hash, list(by_hash))
        )
    )
    return {a: reason for h, reason in rows for a in by_hash[h]}


async def suppressed(session: AsyncSession, addresses: Iterable[str]) -> set[str]:
    """Those of ``addresses`` that are on the list."""
    return set(await reasons(session, addresses))


async def is_suppressed(session: AsyncSession, address: str) -> bool:
    return bool(await suppressed(session, [address]))


async def reason_for(session: AsyncSession, address: str) -> str | None:
    return (await reasons(session, [address])).get(address)


async def lift(session: AsyncSession, address: str, *, only: Iterable[str] = ("unsubscribe",)) -> bool:
    """Take an address off the list if it is there for one of the ``only`` reasons."""
    result = await session.execute(
        delete(Suppression).where(
            Suppression.address_hash == address_hash(address), Suppression.reason.in_(list(only))
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]

