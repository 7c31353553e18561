"""How long the console's deliverability page and dashboard take to count: every series is one
grouped query per table over the window (``mailer/editor/stats.py``), the log and the suppression
list are keyset pages, and the suppression search hashes the addresses a prefix finds. This
script fills a real database with a busy newsroom's 90 days and prints the time of each query
set, on SQLite and (with ``--pg``) on PostgreSQL.

    .venv/bin/python bench/console_insights.py --messages 1000000 [--pg postgresql+asyncpg://postgres@127.0.0.1/postgres]

The messages are spread evenly over the last 90 days; one in 500 bounced, one in 2,000
complained (each with a suppression), one in 1,000 subscribers unsubscribed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scratch import create_pg, drop_pg  # bench/scratch.py
from sqlalchemy import insert, text

CHUNK = 20000


async def fill(db: Any, messages: int, now: datetime) -> None:
    from mailer.core.models import BounceEvent, OutboxMessage
    from subscribers.models import Subscriber, Suppression
    from subscribers.suppression import address_hash

    span = timedelta(days=90).total_seconds()
    tz_day = lambda at: (at + timedelta(hours=3)).date().isoformat()  # noqa: E731  (Baghdad)
    for start in range(0, messages, CHUNK):
        rows, events, subs, blocked = [], [], [], []
        for i in range(start, min(start + CHUNK, messages)):
            at = now - timedelta(seconds=span * (i / messages))
            rcpt = f"reader{i}@example.org"
            rows.append({"kind": "digest", "recipient": rcpt, "priority": 10, "status": "sent", "attempts": 1,
                         "recoveries": 0, "history": "[]", "next_attempt_at": at, "created_at": at, "sent_at": at})
            if i % 10 == 0:
                left = i % 1000 == 0
                subs.append({"email": rcpt, "email_key": rcpt, "status": "unsubscribed" if left else "confirmed",
                             "created_at": at, "updated_at": at, "bounce_score": 0, "no_shares": False,
                             "unsubscribed_at": at if left else None})
            if i % 500 == 0 or i % 2000 == 1:
                kind = "complaint" if i % 2000 == 1 else "hard"
                events.append({"recipient": rcpt, "kind": kind, "source": "arf" if kind == "complaint" else "dsn",
                               "counted": True, "day": tz_day(at), "detail": "", "created_at": at})
                blocked.append({"address_hash": address_hash(rcpt), "reason": "complaint" if kind == "complaint"
                                else "hard_bounce", "created_at": at})
        async with db.transaction() as session:
            await session.execute(insert(OutboxMessage), rows)
            if subs:
                await session.execute(insert(Subscriber), subs)
            if events:
                await session.execute(insert(BounceEvent), events)
                await session.execute(insert(Suppression), blocked)
    if db.dialect == "postgresql":
        async with db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))


async def timed(label: str, repeat: int, work: Any) -> tuple[str, float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await work()
        times.append((time.perf_counter() - began) * 1000)
    return label, statistics.median(times)


async def measure(url: str, messages: int, repeat: int) -> list[tuple[str, float]]:
    from zoneinfo import ZoneInfo

    from mailer.core.db import Database
    from mailer.editor import deliverability, localdays, stats

    db = Database(url)
    await db.upgrade()
    now = datetime.now(UTC)
    tz = ZoneInfo("Asia/Baghdad")
    try:
        await fill(db, messages, now)

        async def daily(days: int) -> None:
            async with db.transaction() as session:
                await stats.daily(session, tz, localdays.last_days(now, tz, days), now)

        async def log() -> None:
            async with db.transaction() as session:
                page = await deliverability.events(session)
                await deliverability.events(session, before=page.next_before)

        async def listed() -> None:
            async with db.transaction() as session:
                await deliverability.reason_counts(session)
                await deliverability.suppressions(session)

        async def search() -> None:
            async with db.transaction() as session:
                await deliverability.search(session, "reader1000")

        return [await timed("daily counts, 90 days, first view", 1, lambda: daily(90)),
                await timed("daily counts, 30 days", repeat, lambda: daily(30)),
                await timed("daily counts, 90 days", repeat, lambda: daily(90)),
                await timed("bounce log, two pages", repeat, log),
                await timed("suppression list + reasons", repeat, listed),
                await timed("suppression search 'reader1000'", repeat, search)]
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg", help="a PostgreSQL URL; a scratch database is made in it and dropped")
    args = parser.parse_args()
    targets = []
    with tempfile.TemporaryDirectory() as tmp:
        targets.append(("SQLite", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"))
        pg_url = None
        if args.pg:
            pg_url = await create_pg(args.pg, "bench_insights")
            targets.append(("PostgreSQL", pg_url))
        try:
            for name, url in targets:
                began = time.perf_counter()
                results = await measure(url, args.messages, args.repeat)
                print(f"{name}: {args.messages:,} delivered messages over 90 days (filled in "
                      f"{time.perf_counter() - began:.0f} s); median of {args.repeat}:")
                for label, ms in results:
                    print(f"  {label:<36} {ms:8.1f} ms")
        finally:
            if pg_url:
                await drop_pg(args.pg, pg_url)

if __name__ == "__main__":
    asyncio.run(main())
