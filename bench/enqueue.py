"""Enqueueing an edition now that lists are data: the one ``INSERT ... SELECT`` joins
``subscriber_lists`` (primary key list, subscriber) instead of reading a column of
``subscribers``, and a breaking-news alert adds a NOT EXISTS so that nobody on two immediate
lists gets it twice. This script times both on a real database at two sizes and prints the
ratios: alert / digest at the same size, and large / small for each (10x the subscribers should
cost about 10x, not more).

    .venv/bin/python bench/enqueue.py --subscribers 10000,100000 [--pg postgresql+asyncpg://...]

Half the subscribers take the digest's list and the other half another; a quarter take the
immediate list, and half of those a second immediate list whose alert of the same article went
first (so the alert's NOT EXISTS has work to do).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from scratch import scratch_pg  # bench/scratch.py
from sqlalchemy import delete, insert, literal, select, text

SECRET = "bench-secret-" + "x" * 40


async def measure(url: str, count: int, repeat: int) -> dict[str, float]:
    from mailer.core.db import Database
    from mailer.core.models import ALERT, Edition, OutboxMessage
    from mailer.delivery import outbox
    from subscribers.models import Subscriber, SubscriberList

    db = Database(url)
    await db.upgrade()
    now = datetime.now(UTC)
    async with db.transaction() as session:
        for start in range(0, count, 5000):
            await session.execute(insert(Subscriber), [
                {"email": f"r{i}@example.org", "email_ascii": f"r{i}@example.org", "status": "confirmed",
                 "created_at": now, "updated_at": now, "bounce_score": 0, "no_shares": False}
                for i in range(start, min(start + 5000, count))
            ])
        for name, modulo, remainder in (("morning", 2, 0), ("breaking", 4, 0), ("evening", 2, 1)):
            await session.execute(insert(SubscriberList).from_select(
                ["list_name", "subscriber_id"],
                select(literal(name), Subscriber.id).where(Subscriber.id % modulo == remainder)))
        await session.execute(insert(SubscriberList).from_select(
            ["list_name", "subscriber_id"],
            select(literal("flash"), Subscriber.id).where(Subscriber.id % 8 == 0)))
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
    timings: dict[str, list[float]] = {"digest": [], "alert": []}
    for n in range(repeat):
        for kind, list_name in (("digest", "morning"), ("alert", "breaking")):
            async with db.transaction() as session:
                if kind == "alert":  # a first alert of the article on another list, so dedup matters
                    other = Edition(kind=ALERT, list_name="flash", period_key=f"alert-{n}", scheduled_at=now,
                                    status="sending", created_at=now)
                    session.add(other)
                    await session.flush()
                    await outbox.enqueue_edition(session, other, now)
                edition = Edition(kind=ALERT if kind == "alert" else "digest", list_name=list_name,
                                  period_key=f"{kind}-{n}" if kind == "digest" else f"alert-{n}",
                                  scheduled_at=now, status="sending", created_at=now)
                session.add(edition)
                await session.flush()
                started = time.perf_counter()
                made = await outbox.enqueue_edition(session, edition, now)
                timings[kind].append(time.perf_counter() - started)
                # the digest: half the subscribers; the alert: a quarter, less the eighth who had the flash
                assert made == (count // 2 if kind == "digest" else count // 4 - count // 8), (kind, made)
            async with db.transaction() as session:
                await session.execute(delete(OutboxMessage))
    await db.dispose()
    return {kind: statistics.median(values) for kind, values in timings.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", default="10000,100000", help="two sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", help="a PostgreSQL server URL to measure on too (a database is created)")
    args = parser.parse_args()
    small, large = (int(n) for n in args.subscribers.split(","))
    backends = ["sqlite"] + (["postgresql"] if args.pg else [])
    for backend in backends:
        results = {}
        for size in (small, large):
            if backend == "sqlite":
                folder = tempfile.mkdtemp(prefix="bench-enqueue-")
                url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
                results[size] = await measure(url, size, args.repeat)
            else:
                async with scratch_pg(args.pg, "bench_enqueue") as url:
                    results[size] = await measure(url, size, args.repeat)
        for size, timing in results.items():
            print(f"{backend:10} {size:>7} subscribers: alert/digest {timing['alert'] / timing['digest']:.2f}x "
                  f"(digest {timing['digest'] * 1000:.0f} ms, alert {timing['alert'] * 1000:.0f} ms)")
        for kind in ("digest", "alert"):
            ratio = results[large][kind] / results[small][kind]
            print(f"{backend:10} {kind:6} {large // small}x the subscribers: {ratio:.1f}x the time")


if __name__ == "__main__":
    asyncio.run(main())
