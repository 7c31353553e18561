"""The outbox's per-row database work on its own: a batch of rows claimed (``outbox.claim``) and
their outcomes recorded as sent (``outbox.record``), the two statements every sent message goes
through, on a real database. Prints the best time a row of each over the rounds.

Timings on a shared machine drift; for a before/after comparison of a change, count instructions
instead, which do not: run it in both checkouts under callgrind and compare the totals (a run
with ``--rounds 0`` gives the fixed part, start-up and imports, to subtract):

    .venv/bin/python bench/outbox_rows.py [--rounds 40] [--backlog 50000] [--waiting 100000] [--pg postgresql+asyncpg://...]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python bench/outbox_rows.py --rounds 10
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scratch import scratch_pg  # bench/scratch.py

BATCH = 500


async def measure(url: str, rounds: int, backlog: int = 0, waiting: int = 0) -> dict[str, float]:
    from mailer.core.db import Database
    from mailer.delivery import outbox
    from mailer.delivery.outcomes import Outcome, Verdict

    db = Database(url)
    await db.upgrade()
    now = datetime.now(UTC)
    best = {"claim": float("inf"), "record": float("inf")}
    try:
        async with db.transaction() as session:  # behind every batch: an edition's rows not yet claimed
            session.add_all(outbox.message_row(kind="share", recipient=f"w{i}@example.org", payload=b"x",
                                               message_id=f"w.{i}", now=now, priority=outbox.DIGEST_PRIORITY)
                            for i in range(waiting))
        for round_ in range(-(backlog // BATCH), rounds):  # the backlog's rounds are not timed
            async with db.transaction() as session:  # a batch of due rows, as an edition's
                session.add_all(outbox.message_row(kind="share", recipient=f"r{i}@example.org", payload=b"x",
                                                   message_id=f"m{round_}.{i}", now=now) for i in range(BATCH))
            async with db.transaction() as session:
                started = time.perf_counter()
                claimed = await outbox.claim(session, "bench:1", now, lease=timedelta(minutes=5), limit=BATCH)
                if round_ >= 0:
                    best["claim"] = min(best["claim"], time.perf_counter() - started)
            sent = [outbox.Result(row, Outcome(Verdict.SENT, 250, "2.0.0 Ok: queued as 4F2A1")) for row in claimed]
            async with db.transaction() as session:
                started = time.perf_counter()
                written = await outbox.record(session, "bench:1", sent, now)
                if round_ >= 0:
                    best["record"] = min(best["record"], time.perf_counter() - started)
            if len(claimed) != BATCH or len(written) != BATCH:
                raise RuntimeError(f"claimed {len(claimed)} and recorded {len(written)} of {BATCH}")
    finally:
        await db.dispose()
    return best


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40, help=f"batches of {BATCH} rows")
    parser.add_argument("--backlog", type=int, default=0,
                        help="rows sent first, untimed: an outbox that has sent a large edition (dead row "
                             "versions on PostgreSQL until vacuum, a deeper index)")
    parser.add_argument("--waiting", type=int, default=0,
                        help="rows left pending behind the batches, never claimed: the rest of an edition being sent")
    parser.add_argument("--pg", help="also measure on this PostgreSQL URL (a scratch database is made)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        await _report("SQLite", f"sqlite+aiosqlite:///{Path(work) / 'bench.db'}", args)
    if args.pg:
        async with scratch_pg(args.pg, "mailer_rows") as url:
            await _report("PostgreSQL", url, args)


async def _report(name: str, url: str, args: argparse.Namespace) -> None:
    rounds = args.rounds
    best = await measure(url, rounds, args.backlog, args.waiting)
    if rounds:
        print(f"{name}: claim {1e6 * best['claim'] / BATCH:.1f} us a row, "
              f"record {1e6 * best['record'] / BATCH:.1f} us a row (best of {rounds} batches of {BATCH})")


if __name__ == "__main__":
    asyncio.run(main())
