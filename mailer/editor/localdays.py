"""Days as the newsroom counts them: the site's local calendar days, and a SQL expression that puts
a stored UTC timestamp into its local day, so that counts are grouped in the database on both
SQLite and PostgreSQL.

PostgreSQL converts with the zone itself (``timezone(zone, ts)``). SQLite knows no zones: the
window is cut where the zone's UTC offset changes (daylight saving), and each piece shifts the
stored UTC text by its own fixed offset (``date(ts, '+10800 seconds')``), which is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal
from sqlalchemy.sql.elements import ColumnElement

from mailer.core.db import UTCDateTime

_STEP = timedelta(minutes=15)  # every zone in use changes its offset on a quarter hour


def last_days(now: datetime, tz: ZoneInfo, count: int) -> list[date]:
    """The ``count`` local days ending with today, oldest first."""
    today = now.astimezone(tz).date()
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


def start_of(day: date, tz: ZoneInfo) -> datetime:
    """The moment a local day begins (an aware datetime in ``tz``)."""
    return datetime.combine(day, time(0), tzinfo=tz)


def window(days: Sequence[date], tz: ZoneInfo) -> tuple[datetime, datetime]:
    """From the start of the first day to the start of the day after the last."""
    return start_of(days[0], tz), start_of(days[-1] + timedelta(days=1), tz)


def _offset(moment: datetime, tz: ZoneInfo) -> timedelta:
    offset = moment.astimezone(tz).utcoffset()
    assert offset is not None
    return offset


def offset_pieces(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime, timedelta]]:
    """``(from, offset)`` pieces covering ``[start, end)``: each offset holds from its moment to
    the next piece's. Pure; a 90-day window costs under 9,000 offset look-ups."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # aware arithmetic in a zone is wall-clock time
    pieces = [(start, _offset(start, tz))]
    moment = start
    while moment < end:
        after = min(moment + _STEP, end)
        if _offset(after, tz) != pieces[-1][1] and after < end:
            low, high = moment, after  # the change is in (low, high]: find the second
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                low, high = (mid, high) if _offset(mid, tz) == pieces[-1][1] else (low, mid)
            pieces.append((high, _offset(high, tz)))
        moment = after
    return pieces


def local_day(column: Any, dialect: str, tz: ZoneInfo, start: datetime, end: datetime) -> ColumnElement[str]:
    """``YYYY-MM-DD``, the local day of the UTC timestamp ``column``, for rows in ``[start, end)``."""
    if dialect == "postgresql":
        return func.to_char(func.timezone(tz.key, column), "YYYY-MM-DD")
    pieces = offset_pieces(start, end, tz)

    def shifted(offset: timedelta) -> ColumnElement[str]:
        return func.date(column, f"{int(offset.total_seconds()):+d} seconds")

    if len(pieces) == 1:
        return shifted(pieces[0][1])
    whens = [(column < literal(at, UTCDateTime), shifted(before))
             for (at, _), (_, before) in zip(pieces[1:], pieces, strict=False)]
    return case(*whens, else_=shifted(pieces[-1][1]))
