"""Scheduling: cron helpers in the site's time zone, catch-up, and one edition per period even
when several schedulers ask at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from mailer.core.models import Edition, OutboxMessage
from mailer.core.settings import Settings
from mailer.delivery.service import Service
from mailer.editions.schedule import DigestScheduler, last_fire, next_fire, previous_fire
from tests.conftest import Clock
from tests.support import factories

BAGHDAD = "Asia/Baghdad"


def test_fire_times_follow_the_site_time_zone() -> None:
    now = datetime(2026, 11, 25, 5, 30, tzinfo=UTC)  # 08:30 in Baghdad
    fire = last_fire("0 7 * * *", BAGHDAD, now)
    assert fire == datetime(2026, 11, 25, 7, 0, tzinfo=ZoneInfo(BAGHDAD))
    assert next_fire("0 7 * * *", BAGHDAD, now) == datetime(2026, 11, 26, 7, 0, tzinfo=ZoneInfo(BAGHDAD))
    assert previous_fire("0 7 * * *", BAGHDAD, fire) == datetime(2026, 11, 24, 7, 0, tzinfo=ZoneInfo(BAGHDAD))
    # weekly, Fridays: 2026-11-25 is a Wednesday
    assert last_fire("0 7 * * 5", BAGHDAD, now) == datetime(2026, 11, 20, 7, 0, tzinfo=ZoneInfo(BAGHDAD))
    assert last_fire("*/15 * * * *", BAGHDAD, now) == datetime(2026, 11, 25, 8, 30, tzinfo=ZoneInfo(BAGHDAD))


async def test_scheduler_registers_each_list_and_catches_up() -> None:
    asked: list[tuple[str, datetime]] = []

    async def run_list(name: str, fire: datetime) -> None:
        asked.append((name, fire))

    scheduler = DigestScheduler({"daily": "0 7 * * *", "weekly": "0 7 * * 5"}, BAGHDAD, run_list)
    scheduler.start()
    try:
        jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
        assert set(jobs) == {"digest-daily", "digest-weekly"}
        assert jobs["digest-daily"].next_run_time.utcoffset().total_seconds() == 3 * 3600
        assert jobs["digest-daily"].next_run_time.hour == 7
        await scheduler.catch_up(datetime(2026, 11, 25, 5, 30, tzinfo=UTC))
    finally:
        scheduler.shutdown()
    assert asked == [
        ("daily", datetime(2026, 11, 25, 7, 0, tzinfo=ZoneInfo(BAGHDAD))),
        ("weekly", datetime(2026, 11, 20, 7, 0, tzinfo=ZoneInfo(BAGHDAD))),
    ]


async def test_two_schedulers_at_once_make_one_edition(settings: Settings, clock: Clock) -> None:
    """Two processes (two engines on one database) plan the same period at the same moment."""
    first = await Service(settings, clock=clock).start()
    second = await Service(settings, clock=clock).start(migrate=False)
    try:
        await factories.ingest_items(first, 3, clock.now)
        for n in range(20):
            await factories.subscriber(first, f"reader{n}@example.org")
        results = await asyncio.gather(
            *(svc.run_list("daily", clock.now) for svc in (first, second, first, second))
        )
        assert sorted(r.action for r in results) == ["exists", "exists", "exists", "sending"]
        async with first.db.transaction() as session:
            editions = await session.scalar(select(func.count()).select_from(Edition))
            rows = await session.scalar(select(func.count()).select_from(OutboxMessage))
        assert (editions, rows) == (1, 20)
    finally:
        await first.close()
        await second.close()
