"""The deliverability page's lists: the bounce and complaint log, newest first, a page at a time
by keyset (``id < before``), and the suppression list with its reasons.

The suppression list keeps addresses only as hashes (a forgotten reader must stay suppressed
without being kept), so it cannot be searched by a prefix itself: a search finds the addresses
that start with it among subscribers and in the bounce log, hashes them and looks those up; a
whole address is also looked up as typed, which alone finds an erased ("forget") one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import newest_first
from mailer.core.errors import InvalidInput
from mailer.core.models import BounceEvent
from subscribers.models import Subscriber, Suppression
from subscribers.suppression import address_hash

PAGE = 50
SEARCH_CANDIDATES = 500  # addresses a prefix may match before the search says "narrow it"
EVENT_KINDS = ("hard", "soft", "complaint", "refused")
MAX_QUERY = 320
_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class EventPage:
    rows: list[BounceEvent]
    next_before: int | None  # the ``before`` of the next (older) page, None on the last one


@dataclass(frozen=True)
class Suppressed:
    address: str | None  # None: kept only as a hash, and no subscriber or bounce names it
    reason: str
    created_at: datetime
    id: int


@dataclass(frozen=True)
class SuppressionPage:
    rows: list[Suppressed]
    next_before: int | None
    truncated: bool = False  # a search whose prefix matched more candidates than it looked at


def check_kind(kind: str) -> str | None:
    """An event-kind filter from the query string: empty for all, else one of ``EVENT_KINDS``."""
    kind = kind.strip()
    if not kind:
        return None
    if kind not in EVENT_KINDS:
        raise InvalidInput("kind", f"{kind!r} is not one of {', '.join(EVENT_KINDS)}",
                           public_message="نوع الحدث غير معروف (kind): اختر من القائمة.")
    return kind


def check_query(query: str) -> str:
    """A search by address: trimmed, lower-case (addresses are compared without case)."""
    query = query.strip().lower()
    if len(query) > MAX_QUERY or any(ch in query for ch in "\r\n\t\x00"):
        raise InvalidInput("q", "not an address or the start of one",
                           public_message="نص البحث (q) ليس عنواناً بريدياً ولا بدايته.")
    return query


async def events(session: AsyncSession, *, before: int | None = None, kind: str | None = None,
                 limit: int = PAGE) -> EventPage:
    """Bounces and complaints, newest first (the id orders them: it grows with each event)."""
    where = [BounceEvent.kind == kind] if kind is not None else []
    rows, nxt = await newest_first(session, BounceEvent, before, limit, *where)
    return EventPage(rows, nxt)


async def reason_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Suppression.reason, func.count()).group_by(Suppression.reason))
    return {reason: int(n) for reason, n in rows.all()}


async def suppressions(session: AsyncSession, *, before: int | None = None, limit: int = PAGE) -> SuppressionPage:
    """The list, newest first; an address is shown where a subscriber row still names it."""
    rows, nxt = await newest_first(session, Suppression, before, limit)
    known = await _names(session, rows)
    return SuppressionPage([Suppressed(known.get(r.address_hash), r.reason, r.created_at, r.id) for r in rows], nxt)


async def _names(session: AsyncSession, rows: list[Suppression]) -> dict[str, str]:
    """The addresses of ``rows`` that the database still holds: a suppression is written in the
    same transaction as the bounce event or the subscriber's change that caused it, so the
    addresses of those written within the page's time span are the candidates (hashed here)."""
    if not rows:
        return {}
    first = min(r.created_at for r in rows) - _SLACK
    last = max(r.created_at for r in rows) + _SLACK
    candidates = set(await session.scalars(
        select(BounceEvent.recipient).where(BounceEvent.created_at.between(first, last),
                                            BounceEvent.kind.in_(("hard", "complaint")))
        .distinct().limit(SEARCH_CANDIDATES * 4)
    ))
    candidates |= set(await session.scalars(  # bounces and complaints are in the log; leavers here
        select(Subscriber.email).where(Subscriber.unsubscribed_at.between(first, last))
        .limit(SEARCH_CANDIDATES * 4)
    ))
    wanted = {r.address_hash for r in rows if r.reason != "forget"}  # an erased person stays a hash
    found: dict[str, str] = {}
    for address in sorted(a for a in candidates if a):
        key = address_hash(address)
        if key in wanted:
            found.setdefault(key, address)
    return found


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search(session: AsyncSession, query: str, *, limit: int = PAGE) -> SuppressionPage:
    """Suppressed addresses that start with ``query`` (see the module's note), newest first."""
    if not query:
        return await suppressions(session, limit=limit)
    pattern = _like_prefix(query)
    found = set(await session.scalars(
        select(Subscriber.email_key).where(Subscriber.email_key.like(pattern, escape="\\"))
        .limit(SEARCH_CANDIDATES)
    ))
    found |= set(await session.scalars(
        select(func.lower(BounceEvent.recipient)).where(func.lower(BounceEvent.recipient).like(pattern, escape="\\"))
        .distinct().limit(SEARCH_CANDIDATES)
    ))
    truncated = len(found) >= SEARCH_CANDIDATES
    if "@" in query:
        found.add(query)
    by_hash: dict[str, str] = {}
    for address in sorted(a for a in found if a):
        by_hash.setdefault(address_hash(address), address)
    rows: list[Suppression] = []
    hashes = list(by_hash)
    for start in range(0, len(hashes), 500):
        chunk = hashes[start:start + 500]
        rows += await session.scalars(select(Suppression).where(Suppression.address_hash.in_(chunk)))
    # an erased person's address may linger in the bounce log: only their whole address, typed, finds them
    rows = [r for r in rows if r.reason != "forget" or by_hash[r.address_hash] == query]
    rows.sort(key=lambda r: r.id, reverse=True)
    return SuppressionPage(
        [Suppressed(by_hash[r.address_hash], r.reason, r.created_at, r.id) for r in rows[:limit]], None,
        truncated=truncated or len(rows) > limit,
    )
