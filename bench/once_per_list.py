"""What enqueueing an edition costs, and what keeping "an article once per list" adds to it.

For N subscribers and 20 articles, in a fresh database each time (SQLite, and PostgreSQL with
``--pg``), it times

* ``run_list``: planning the edition (its articles, and where the code has it, claiming them in
  ``list_articles``) and enqueueing one outbox row per subscriber: what the scheduler does;
* the per-row alternative the rule could have been kept with: one row per (list, subscriber,
  article) in a table with that primary key, written with one ``INSERT ... SELECT`` for the
  edition, as the enqueue would have to.

Run it in two checkouts (before and after a change) to compare ``run_list``:

    python bench/enqueue.py --subscribers 100000 --repeat 3 [--pg postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

from throughput import FROM, SECRET, _pg_drop, _pg_scratch  # noqa: E402  (the same scratch databases)

FIRE = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 07:00 in Baghdad: the daily cron
PER_ROW_TABLE = """CREATE TABLE deliveries (
    list_name VARCHAR(32) NOT NULL, subscriber_id INTEGER NOT NULL, article_id INTEGER NOT NULL,
    PRIMARY KEY (list_name, subscriber_id, article_id))"""
PER_ROW_INSERT = """INSERT INTO deliveries (list_name, subscriber_id, article_id)
    SELECT 'daily', o.subscriber_id, ea.article_id FROM outbox o
    JOIN edition_articles ea ON ea.edition_id = o.edition_id AND NOT ea.excluded
    WHERE o.edition_id = :edition ON CONFLICT DO NOTHING"""


def feed(count: int) -> bytes:
    items = "".join(
        f"<item><title>خبر {n}</title><link>https://news.example.com/{n}</link><guid>n{n}</guid>"
        f"<description>ملخص {n}</description><pubDate>{format_datetime(FIRE - timedelta(minutes=n))}</pubDate></item>"
        for n in range(1, count + 1)
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            f"<link>https://news.example.com</link><description>d</description>{items}</channel></rss>").encode()


async def one_run(url: str, workdir: Path, subscribers: int, articles: int) -> tuple[float, float, int]:
    from sqlalchemy import insert, text

    from mailer.articles import ingest
    from mailer.core.settings import load_settings
    from mailer.delivery.service import Service
    from subscribers.models import Subscriber, SubscriberList

    settings = load_settings(data_dir=workdir, database_url=url, secret_key=SECRET, sender_address=FROM,
                             base_url="https://news.example.com", log_level="WARNING", max_articles=articles)
    svc = await Service(settings, clock=lambda: FIRE).start()
    try:
        async with svc.db.transaction() as session:
            await ingest.store(session, ingest.parse_feed(feed(articles), now=FIRE).articles)
            for start in range(0, subscribers, 5000):
                ids = range(start + 1, min(start + 5000, subscribers) + 1)
                await session.execute(insert(Subscriber), [
                    {"id": i, "email": f"r{i}@example.org", "email_ascii": f"r{i}@example.org", "status": "confirmed",
                     "created_at": FIRE, "updated_at": FIRE, "bounce_score": 0, "no_shares": False}
                    for i in ids
                ])
                await session.execute(insert(SubscriberList), [{"list_name": "daily", "subscriber_id": i} for i in ids])
        started = time.perf_counter()
        result = await svc.run_list("daily", FIRE)
        planned = time.perf_counter() - started
        assert result.enqueued == subscribers, result.describe()
        assert result.edition is not None
        async with svc.db.transaction() as session:
            await session.execute(text(PER_ROW_TABLE))
        started = time.perf_counter()
        async with svc.db.transaction() as session:
            rows = (await session.execute(text(PER_ROW_INSERT), {"edition": result.edition.id})).rowcount
        per_row = time.perf_counter() - started
        return planned, per_row, int(rows)
    finally:
        await svc.close()


def measure(label: str, pg: str | None, args: argparse.Namespace) -> None:
    planned, per_row, rows = [], [], 0
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            name = None
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            if pg is not None:
                name, url = _pg_scratch(pg)
            try:
                p, r, rows = asyncio.run(one_run(url, Path(tmp), args.subscribers, args.articles))
            finally:
                if pg is not None and name is not None:
                    _pg_drop(pg, name)
        planned.append(p)
        per_row.append(r)
    p, r = statistics.median(planned), statistics.median(per_row)
    print(f"{label}: run_list (plan + enqueue {args.subscribers:,} rows) {p:.2f} s; "
          f"per-row table ({rows:,} rows) {r:.2f} s more = {(p + r) / p:.1f}x the enqueue "
          f"(medians of {args.repeat})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", help="a PostgreSQL URL whose server may create scratch databases")
    args = parser.parse_args()
    measure("SQLite", None, args)
    if args.pg:
        measure("PostgreSQL", args.pg, args)


if __name__ == "__main__":
    main()
