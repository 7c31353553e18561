"""The one module that imports APScheduler. Triggers only *ask* for work; the database decides.

Cron helpers are pure functions of ``now``; ``DigestScheduler`` wires them to an
``AsyncIOScheduler`` (in-memory job store, 3.11.x) that calls ``Service.run_list`` for each
scheduled list, and ``Service.poll_feeds`` every ``MAILER_FEED_POLL_MINUTES`` when feeds are set.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)


_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_cron(expression: str, timezone: str) -> CronTrigger:
    """A five-field crontab line ("minute hour day month weekday") in ``timezone``.

    Weekday numbers follow cron (0 and 7 are Sunday); APScheduler 3 counts from Monday, so they
    are turned into names first."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"{expression!r} must have 5 fields (minute hour day month weekday), e.g. '0 7 * * *'"
        )
    minute, hour, day, month, weekday = fields
    try:
        weekday = re.sub(r"(?<![/\d])([0-7])(?!\d)", lambda m: _CRON_WEEKDAYS[int(m.group(1))], weekday)
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=weekday,
            timezone=ZoneInfo(timezone),
        )
    except ValueError as exc:
        raise ValueError(f"{expression!r} is not a valid cron expression: {exc}") from None


def next_fire(expression: str, timezone: str, after: datetime) -> datetime | None:
    fire: datetime | None = parse_cron(expression, timezone).get_next_fire_time(None, after)
    return fire


def last_fire(expression: str, timezone: str, now: datetime) -> datetime | None:
    """The latest time at or before ``now`` when the cron fires (None if not in ~2 years)."""
    trigger = parse_cron(expression, timezone)
    window = timedelta(hours=1)
    while window <= timedelta(days=800):
        fire: datetime | None = trigger.get_next_fire_time(None, now - window)
        if fire is not None and fire <= now:
            while True:
                after: datetime | None = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
                if after is None or after > now:
                    return fire
                fire = after
        window *= 2
    return None


def previous_fire(expression: str, timezone: str, fire: datetime) -> datetime | None:
    """The fire time before ``fire``: the start of the period that ``fire`` closes."""
    return last_fire(expression, timezone, fire - timedelta(seconds=1))


RunList = Callable[[str, datetime], Awaitable[object]]
Poll = Callable[[], Awaitable[object]]


class DigestScheduler:
    """Runs ``run_list(list_name, fire_time)`` on each list's cron, and once at start-up; and
    ``poll()`` every ``poll_minutes`` (the first time at once) when given.

    The start-up call catches up a period missed while the process was down; the stale
    guard in ``editions.plan`` decides whether it may still go out.
    """

    def __init__(
        self, crons: dict[str, str], timezone: str, run_list: RunList, *,
        poll: Poll | None = None, poll_minutes: float = 10.0,
    ) -> None:
        self.crons = crons
        self.timezone = timezone
        self.run_list = run_list
        self.poll = poll
        self.poll_minutes = poll_minutes
        self.scheduler = AsyncIOScheduler(timezone=ZoneInfo(timezone))
        self.chores: list[tuple[str, str, Callable[[], Awaitable[object]]]] = []

    def also(self, name: str, cron: str, chore: Callable[[], Awaitable[object]]) -> None:
        """Run ``chore`` on ``cron`` as well (maintenance, e.g. ``mailer prune``); before ``start``."""
        self.chores.append((name, cron, chore))

    def start(self) -> None:
        if self.poll is not None:
            self.scheduler.add_job(
                self._chore, IntervalTrigger(minutes=self.poll_minutes), args=["feed polling", self.poll],
                id="feeds", coalesce=True, max_instances=1, next_run_time=datetime.now(ZoneInfo(self.timezone)),
            )
        for name, cron, chore in self.chores:
            self.scheduler.add_job(
                self._chore, parse_cron(cron, self.timezone), args=[name, chore], id=name,
                coalesce=True, max_instances=1, misfire_grace_time=3600,
            )
        for list_name, cron in self.crons.items():
            self.scheduler.add_job(
                self._fire,
                parse_cron(cron, self.timezone),
                args=[list_name],
                id=f"digest-{list_name}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=3600,
            )
        self.scheduler.start()

    async def catch_up(self, now: datetime) -> None:
        for list_name, cron in self.crons.items():
            fire = last_fire(cron, self.timezone, now)
            if fire is not None:
                await self.run_list(list_name, fire)

    async def _fire(self, list_name: str) -> None:
        now = datetime.now(ZoneInfo(self.timezone))
        fire = last_fire(self.crons[list_name], self.timezone, now)
        if fire is None:
            return
        try:
            await self.run_list(list_name, fire)
        except Exception:  # the scheduler must keep running; the next tick retries
            log.exception("digest run for list %s failed", list_name)

    @staticmethod
    async def _chore(name: str, chore: Callable[[], Awaitable[object]]) -> None:
        try:
            await chore()
        except Exception:  # the scheduler must keep running; the next tick retries
            log.exception("%s failed", name)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
