"""Counts per local day for the console (deliverability and dashboard), each one grouped in SQL:
messages delivered, bounces, complaints, unsubscribes and shares, over the last N days of the
site's calendar; and the rates drawn from them, with the complaint-rate verdict.

Rates are per day, as Gmail and Yahoo count them: complaints that day / messages delivered that
day. Bounces are a share of the attempts (delivered + refused at once by the receiving server).
Events that carry no proof they answer our mail (``unattributed``) are not counted.

The outbox, subscriber and share counts of a day that is over are stored in ``daily_totals`` the
first time they are counted (a page view), so a page counts only today's rows from those big
tables: at 1,000,000 messages in 90 days SQLite took 1.6 s for 30 days counted afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from mailer.core.db import insert
from mailer.core.models import BounceEvent, DailyTotal, OutboxMessage, ShareRecord
from mailer.editor.localdays import local_day, start_of, window
from subscribers.models import Subscriber

GMAIL_LIMIT = 0.003  # Gmail's and Yahoo's bulk-sender rule: keep complaints under 0.3 %
WARN_ABOVE = 0.001  # both advise staying under 0.1 %; above it the console warns
RECENT_DAYS = 7  # "recent" for the warning
UNATTRIBUTED = "unattributed: "  # subscribers.bounces.record_unattributed's mark
PERIODS = (30, 90)  # the dashboard's choices of days
TOTALS = ("delivered", "unsubscribes", "shares")  # counted from big tables: stored once a day is closed
SETTLED = timedelta(minutes=15)  # a day this long over is closed (a batch sent at 23:59 is recorded by then)


@dataclass(frozen=True)
class Day:
    """One local day's counts."""

    day: date
    delivered: int = 0
    complaints: int = 0
    bounces: int = 0  # hard and soft, attributed
    refused_at_once: int = 0  # bounces the receiving server gave in its SMTP reply
    unsubscribes: int = 0
    shares: int = 0  # share requests that were queued

    @property
    def complaint_rate(self) -> float | None:
        return self.complaints / self.delivered if self.delivered else None

    @property
    def bounce_rate(self) -> float | None:
        attempts = self.delivered + self.refused_at_once
        return self.bounces / attempts if attempts else None

    @property
    def unsubscribe_rate(self) -> float | None:
        return self.unsubscribes / self.delivered if self.delivered else None


@dataclass(frozen=True)
class Verdict:
    """What the complaint rate of the recent days says: ``ok``, ``warn`` (above 0.1 %) or
    ``over`` (above the 0.3 % that Gmail and Yahoo enforce), and the worst day."""

    level: str
    worst: Day | None = None


def verdict(days: Sequence[Day], *, recent: int = RECENT_DAYS) -> Verdict:
    """The worst complaint rate among the last ``recent`` days that delivered anything (pure)."""
    rated = [(d.complaint_rate, d) for d in days[-recent:] if d.complaint_rate is not None]
    if not rated:
        return Verdict("ok")
    rate, worst = max(rated, key=lambda pair: (pair[0], pair[1].day))
    assert rate is not None
    level = "over" if rate > GMAIL_LIMIT else "warn" if rate > WARN_ABOVE else "ok"
    return Verdict(level, worst)


async def _by_day(session: AsyncSession, day: ColumnElement[str], *where: Any) -> dict[str, int]:
    """``{YYYY-MM-DD: rows}`` of ``SELECT day ... WHERE ... GROUP BY day``; the day expression is
    computed once, in a subquery, so PostgreSQL groups by exactly what it selects."""
    inner = select(day.label("day")).where(*where).subquery()
    rows = await session.execute(select(inner.c.day, func.count()).group_by(inner.c.day))
    return {str(d): int(n) for d, n in rows.all()}


async def _live(session: AsyncSession, tz: ZoneInfo, days: Sequence[date]) -> dict[str, dict[str, int]]:
    """The outbox, subscriber and share counts of ``days`` (consecutive), each one grouped query."""
    dialect = session.get_bind().dialect.name
    start, end = window(days, tz)

    def in_window(column: Any) -> tuple[Any, ...]:
        return column >= start, column < end

    def day_of(column: Any) -> ColumnElement[str]:
        return local_day(column, dialect, tz, start, end)

    return {
        # ``status || ''``: SQLite would otherwise walk the claim index over every sent row ever
        # (status = 'sent') instead of the day's range of (sent_at, status, kind)
        "delivered": await _by_day(session, day_of(OutboxMessage.sent_at), *in_window(OutboxMessage.sent_at),
                                   OutboxMessage.status.concat("") == "sent", OutboxMessage.kind != "test"),
        "unsubscribes": await _by_day(session, day_of(Subscriber.unsubscribed_at),
                                      *in_window(Subscriber.unsubscribed_at)),
        "shares": await _by_day(session, day_of(ShareRecord.created_at), *in_window(ShareRecord.created_at),
                                ShareRecord.outcome == "queued"),
    }


def _closed(days: Sequence[date], tz: ZoneInfo, now: datetime) -> list[date]:
    """The days of ``days`` that ended at least ``SETTLED`` ago: their counts no longer change."""
    return [d for d in days if start_of(d + timedelta(days=1), tz) <= now - SETTLED]


async def _counted(
    session: AsyncSession, tz: ZoneInfo, days: Sequence[date], now: datetime
) -> dict[str, dict[str, int]]:
    """The table counts of ``days``: closed days from ``daily_totals`` (counted and stored the first
    time they are asked for), the rest live."""
    closed = _closed(days, tz, now)
    counts: dict[str, dict[str, int]] = {name: {} for name in TOTALS}
    if closed:
        first, last = closed[0].isoformat(), closed[-1].isoformat()
        rows = await session.execute(select(DailyTotal.day, DailyTotal.name, DailyTotal.count).where(
            DailyTotal.zone == tz.key, DailyTotal.day >= first, DailyTotal.day <= last))
        stored: dict[str, dict[str, int]] = {}
        for stored_day, name, count in rows.all():
            stored.setdefault(stored_day, {})[name] = int(count)
        missing = [d for d in closed if set(stored.get(d.isoformat(), {})) != set(TOTALS)]
        if missing:
            span = [missing[0] + timedelta(days=i) for i in range((missing[-1] - missing[0]).days + 1)]
            fresh = await _live(session, tz, span)
            for day in missing:
                key = day.isoformat()
                values = {name: fresh[name].get(key, 0) for name in TOTALS}
                stored[key] = values
                for name, count in values.items():
                    row = insert(session, DailyTotal).values(zone=tz.key, day=key, name=name, count=count)
                    await session.execute(row.on_conflict_do_nothing(index_elements=["zone", "day", "name"]))
        for key, values in stored.items():
            for name, count in values.items():
                counts[name][key] = count
    open_days = [d for d in days if d not in set(closed)]
    if open_days:
        for name, values in (await _live(session, tz, open_days)).items():
            counts[name].update(values)
    return counts


async def daily(session: AsyncSession, tz: ZoneInfo, days: Sequence[date], now: datetime) -> list[Day]:
    """Every count of ``days`` (consecutive local days, oldest first) as of ``now``."""
    start, end = window(days, tz)
    counts = await _counted(session, tz, days, now)
    # bounce events carry their local day already (subscribers.bounces.record), and are few
    events: dict[str, dict[str, int]] = {}
    rows = await session.execute(
        select(BounceEvent.day, BounceEvent.kind, BounceEvent.source, func.count())
        .where(BounceEvent.day >= days[0].isoformat(), BounceEvent.day <= days[-1].isoformat(),
               # the indexed time, a day wider than the local days (no zone is 24 hours off UTC)
               BounceEvent.created_at >= start - timedelta(days=1), BounceEvent.created_at < end + timedelta(days=1),
               BounceEvent.kind.in_(("hard", "soft", "complaint")), ~BounceEvent.detail.startswith(UNATTRIBUTED))
        .group_by(BounceEvent.day, BounceEvent.kind, BounceEvent.source)
    )
    for event_day, kind, source, count in rows.all():
        tally = events.setdefault(event_day, {})
        key = "complaints" if kind == "complaint" else "bounces"
        tally[key] = tally.get(key, 0) + int(count)
        if kind != "complaint" and source == "smtp":
            tally["refused_at_once"] = tally.get("refused_at_once", 0) + int(count)
    out = []
    for day in days:
        key = day.isoformat()
        ev = events.get(key, {})
        out.append(Day(
            day, delivered=counts["delivered"].get(key, 0), complaints=ev.get("complaints", 0),
            bounces=ev.get("bounces", 0), refused_at_once=ev.get("refused_at_once", 0),
            unsubscribes=counts["unsubscribes"].get(key, 0), shares=counts["shares"].get(key, 0),
        ))
    return out


def totals(days: Sequence[Day]) -> Day:
    """The sum of ``days`` (dated with the last), for the period's overall rates."""
    return Day(
        days[-1].day if days else datetime.min.date(),
        delivered=sum(d.delivered for d in days), complaints=sum(d.complaints for d in days),
        bounces=sum(d.bounces for d in days), refused_at_once=sum(d.refused_at_once for d in days),
        unsubscribes=sum(d.unsubscribes for d in days), shares=sum(d.shares for d in days),
    )
