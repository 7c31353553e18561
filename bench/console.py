"""The console's subscriber search and list at scale: creates N subscribers (default 1,000,000)
with fast bulk inserts (COPY on PostgreSQL), then times, as the median of several runs, a search
by address prefix and by name prefix (the query alone, and the whole page through the real app),
and the first and a later page of ``/editor/subscribers``, signed in as an admin, through the app
over httpx's ASGI transport. Goal: under 200 ms each at 1,000,000 on SQLite and PostgreSQL.

    .venv/bin/python bench/console.py [--subscribers 1000000] [--pg postgresql+asyncpg://127.0.0.1/postgres]
                                      [--repeat 7] [--keep FILE]

On PostgreSQL a fresh database is created next to the one the URL names, and dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from scratch import scratch_pg  # bench/scratch.py
from sqlalchemy import insert, literal, select, text

SECRET = "bench-secret-" + "x" * 40
PASSWORD = "bench-password-long-enough"  # noqa: S105  (a throwaway account in a throwaway database)
FIRST = ["محمد", "أحمد", "علي", "حسين", "فاطمة", "زينب", "مريم", "عمر", "يوسف", "سارة", "ليلى", "خالد",
         "Ahmed", "Sara", "John", "Maria", "Layla", "Omar", "Hassan", "Nour"]
LAST = ["الجبوري", "العبيدي", "التميمي", "الموسوي", "الحسيني", "الربيعي", "الزيدي", "الشمري",
        "Haddad", "Karim", "Smith", "Saleh", "Mansour", "Aziz"]
DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "news.example.iq", "mail.example.org"]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
BATCH = 20_000


def rows(start: int, stop: int, now: datetime) -> list[dict[str, Any]]:
    from subscribers.search import email_search_key, name_search_key

    rnd = random.Random(start)
    out = []
    for i in range(start, stop):
        word = rnd.choice(FIRST).lower() if rnd.random() < 0.3 else ""
        local = f"{word}{uuid.UUID(int=rnd.getrandbits(128)).hex[:8]}{i}"
        if not local.isascii():
            local = uuid.UUID(int=rnd.getrandbits(128)).hex[:10] + str(i)
        email = f"{local}@{rnd.choice(DOMAINS)}"
        name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}" if rnd.random() < 0.8 else None
        out.append({"email": email, "email_key": email, "email_ascii": email, "name": name,
                    "status": "confirmed" if rnd.random() < 0.85 else rnd.choice(["pending", "unsubscribed", "paused"]),
                    "created_at": now, "updated_at": now, "bounce_score": 0, "no_shares": False,
                    "link_key": uuid.UUID(int=rnd.getrandbits(128)).hex[:16],
                    "search_email": email_search_key(email), "search_name": name_search_key(name)})
    return out


async def fill(db: Any, count: int) -> float:
    from subscribers.models import Subscriber, SubscriberList

    now = datetime.now(UTC)
    began = time.perf_counter()
    for start in range(0, count, BATCH):
        batch = rows(start, min(start + BATCH, count), now)
        async with db.transaction() as session:
            if db.dialect == "postgresql":
                conn = await session.connection()
                raw = (await conn.get_raw_connection()).driver_connection
                columns = list(batch[0])
                await raw.copy_records_to_table("subscribers", records=[tuple(r[c] for c in columns) for r in batch],
                                                columns=columns)
            else:
                await session.execute(insert(Subscriber), batch)
    async with db.transaction() as session:
        for name, modulo, remainder in (("daily", 2, 0), ("weekly", 3, 0)):
            await session.execute(insert(SubscriberList).from_select(
                ["list_name", "subscriber_id"],
                select(literal(name), Subscriber.id).where(Subscriber.id % modulo == remainder)))
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    return time.perf_counter() - began


async def median_ms(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    await fn()  # warm
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def run(url: str, count: int, repeat: int) -> None:
    from mailer.core.settings import load_settings
    from mailer.delivery.service import Service
    from mailer.editor import accounts
    from mailer.web.app import create_app
    from subscribers import search

    data_dir = Path(tempfile.mkdtemp(prefix="bench-console-"))
    settings = load_settings(None, data_dir=data_dir, database_url=url, secret_key=SECRET, site_name="أخبار",
                             base_url="http://bench.test", sender_address="news@news.example.com",
                             devmailbox_port=0)  # the default lists: daily and weekly
    svc = await Service(settings).start()
    try:
        async with svc.db.transaction() as session:
            have = await session.scalar(text("SELECT count(*) FROM subscribers"))
        if not have:
            seconds = await fill(svc.db, count)
            print(f"inserted {count:,} subscribers in {seconds:.1f} s ({svc.db.dialect})")
        else:
            count = int(have)
            print(f"reusing {count:,} subscribers ({svc.db.dialect})")
        async with svc.db.transaction() as session:
            if await accounts.by_name(session, "bench") is None:
                await accounts.add(session, "bench", "bench@news.example.com", PASSWORD, svc.clock(), role="admin")
        app = create_app(svc)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench.test") as client:
            form = await client.get("/editor/login")
            token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
            signed = await client.post("/editor/login", data={"name": "bench", "password": PASSWORD, "csrf": token})
            assert signed.status_code == 303, signed.text

            async def page(path: str) -> None:
                reply = await client.get(path)
                assert reply.status_code == 200, reply.text[:500]
                assert 'data-subscriber="' in reply.text or "no-results" in reply.text

            async def query(q: search.Query) -> None:
                async with svc.db.transaction() as session:
                    found = await search.find(session, q)
                assert found.ids

            async with svc.db.transaction() as session:
                first = await search.find(session, search.Query(limit=1))
                middle = await session.scalar(text("SELECT max(id) FROM subscribers")) // 2
                address = (await session.execute(text("SELECT search_email FROM subscribers WHERE id = :id"),
                                                 {"id": middle})).scalar()
            assert first.ids
            prefix = address[:3]
            later_search = (await client.get(f"/editor/subscribers?q={prefix}&by=email")).text
            nxt = re.search(r'id="next-page" href="([^"]+)"|href="([^"]+)" id="next-page"', later_search)
            later_search_url = (nxt.group(1) or nxt.group(2)).replace("&amp;", "&") if nxt else None
            results = {
                f"search by address prefix {prefix!r} (query)": await median_ms(
                    lambda: query(search.Query(q=prefix, by="email")), repeat),
                "search by name prefix 'محم' (query)": await median_ms(
                    lambda: query(search.Query(q="محم", by="name")), repeat),
                f"/editor/subscribers?q={prefix} (address, page)": await median_ms(
                    lambda: page(f"/editor/subscribers?q={prefix}&by=email"), repeat),
                "/editor/subscribers?q=محم (name, page)": await median_ms(
                    lambda: page("/editor/subscribers?q=محم&by=name"), repeat),
                "/editor/subscribers (first page)": await median_ms(lambda: page("/editor/subscribers"), repeat),
                f"/editor/subscribers?after={middle} (a later page)": await median_ms(
                    lambda: page(f"/editor/subscribers?after={middle}"), repeat),
                "/editor/subscribers?list=weekly&status=confirmed (filtered)": await median_ms(
                    lambda: page("/editor/subscribers?list=weekly&status=confirmed"), repeat),
            }
            if later_search_url:
                results["next page of the address search"] = await median_ms(lambda: page(later_search_url), repeat)
        print(f"{count:,} subscribers on {svc.db.dialect}, median of {repeat} runs:")
        for label, ms in results.items():
            print(f"  {ms:8.1f} ms  {label}{'' if ms < 200 else '  (over the 200 ms goal)'}")
    finally:
        await svc.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--pg", help="a PostgreSQL URL (postgresql+asyncpg://...); SQLite file if omitted")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", help="SQLite: use (and keep) this file; an existing one is reused")
    args = parser.parse_args()
    if args.pg:
        async with scratch_pg(args.pg, "bench_console") as url:
            await run(url, args.subscribers, args.repeat)
    else:
        path = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-console-")) / "console.db"
        await run(f"sqlite+aiosqlite:///{path}", args.subscribers, args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
