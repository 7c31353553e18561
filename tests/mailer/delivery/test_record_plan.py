"""Recording a batch finds its rows by primary key, on both databases.

The compare-and-set says "still sending"; written plainly, PostgreSQL's planner reached the rows
through ix_outbox_claim's "sending" entries instead (its statistics see few such rows), and those
include every dead row version since the last vacuum: recording a row took 780 to 830 us after
30,000 rows sent, 39 to 42 us since (bench/outbox_rows.py --backlog 30000 --pg ...)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import Database
from mailer.core.models import Edition, OutboxMessage
from mailer.delivery import outbox
from mailer.delivery.outcomes import Outcome, Verdict
from tests.conftest import Clock
from tests.support import factories


async def test_the_compare_and_set_goes_by_primary_key(database: Database, clock: Clock) -> None:
    db, table = database, OutboxMessage.__table__
    await _due_rows(db, clock, 3000)
    async with db.transaction() as session:  # statistics that see no row being sent
        await session.execute(text("ANALYZE"))
    async with db.transaction() as session:
        claimed = await outbox.claim(session, "w:1", clock.now, lease=timedelta(minutes=5), limit=500)
    row = claimed[0]
    statements = [  # the rows each write of a batch reaches (an UPDATE scans as this SELECT)
        select(table.c.id).where(*outbox._still_ours("w:1")).params(b_id=row.id, b_attempts=row.attempts),
        outbox._held("w:1", [c.id for c in claimed]),  # PostgreSQL's lock on the batch first
    ]
    plan_of: list[str] = []
    async with db.transaction() as session:
        for stmt in statements:
            plan = "\n".join(str(line[-1]) for line in await _plan(session, stmt))
            plan_of.append(plan)
            assert "ix_outbox_claim" not in plan, plan
        # one row's compare-and-set: by primary key (the batch's lock may scan a small table)
        assert ("pk_outbox" if db.dialect == "postgresql" else "PRIMARY KEY") in plan_of[0], plan_of[0]


async def test_the_claim_updates_its_batch_by_primary_key(database: Database, clock: Clock) -> None:
    """The batch is picked through the claim index; the rows are then updated by primary key.
    SQLite, which keeps no statistics, walked every "pending" entry of the claim index instead:
    a claim grew with the rows still waiting (58 against 21 us a row with 100,000 waiting rows,
    bench/outbox_rows.py --waiting 100000)."""
    db = database
    await _due_rows(db, clock, 3000)
    stmt = outbox._claiming(db.dialect, "w:1", clock.now, lease=timedelta(minutes=5), limit=500, edition_id=None)
    if db.dialect == "postgresql":  # its autovacuum keeps statistics; SQLite keeps none unless asked
        async with db.transaction() as session:
            await session.execute(text("ANALYZE"))
    async with db.transaction() as session:
        plan = await _plan(session, stmt)
    if db.dialect == "postgresql":  # the update's own scan: the lines after the CTE's
        lines = [str(line[0]) for line in plan]
        update_part = "\n".join(lines[next(i for i, line in enumerate(lines) if line.startswith("  ->")):])
    else:  # the outer statement's lines (those whose parent is the root)
        update_part = "\n".join(str(row[-1]) for row in plan if row[1] == 0)
    assert "ix_outbox_claim" not in update_part, update_part
    if db.dialect == "sqlite":
        assert "PRIMARY KEY" in update_part, update_part
    async with db.transaction() as session:  # and it still claims the most urgent rows, once
        first = await outbox.claim(session, "w:1", clock.now, lease=timedelta(minutes=5), limit=500)
        second = await outbox.claim(session, "w:2", clock.now, lease=timedelta(minutes=5), limit=500)
    assert [r.id for r in first] == sorted(r.id for r in first) and len(first) == len(second) == 500
    assert max(r.id for r in first) < min(r.id for r in second)


async def _due_rows(db: Database, clock: Clock, count: int) -> None:
    async with db.transaction() as session:
        await session.execute(insert(OutboxMessage.__table__), [
            {"kind": "share", "recipient": f"r{i}@example.org", "payload": b"x", "message_id": f"m{i}",
             "status": "pending", "attempts": 0, "history": "[]", "next_attempt_at": clock.now,
             "created_at": clock.now, "priority": 0} for i in range(count)])


async def _plan(session: AsyncSession, stmt: Any) -> list[Any]:
    """The rows of ``EXPLAIN`` (PostgreSQL) or ``EXPLAIN QUERY PLAN`` (SQLite) of ``stmt``, with
    its values: bound as asyncpg binds them (arrays with NULLs in them have no literal form),
    written in for SQLite."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        assert driver is not None
        return list(await driver.fetch(f"EXPLAIN {compiled}",
                                       *(compiled.params[n] for n in compiled.positiontup or ())))
    sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    return list(await session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))


async def test_postgresql_records_a_batch_by_its_ids(database: Database, clock: Clock) -> None:
    """PostgreSQL writes a batch's outcomes with one ``UPDATE ... FROM unnest(arrays)``; its rows
    must be found by joining on their ids. With the statistics of a send (taken while no row had
    a lease owner), the planner once estimated the owner's rows at one and joined by a filter:
    each of the 500 rows compared with the whole batch, 50 to 200 ms a batch in a real send."""
    if database.dialect != "postgresql":
        return  # SQLite's record is an executemany by primary key (the test above)
    db = database
    await _due_rows(db, clock, 20_000)  # an edition's rows
    async with db.transaction() as session:  # statistics that see no row being sent
        await session.execute(text("ANALYZE"))
    async with db.transaction() as session:
        claimed = await outbox.claim(session, "w:1", clock.now, lease=timedelta(minutes=5), limit=500)
    sent = [outbox.Result(row, Outcome(Verdict.SENT, 250, "2.0.0 Ok")) for row in claimed]
    rows = [(r.row, outbox._next_state(r, "w:1", clock.now, clock.now.isoformat(), timedelta(days=3)))
            for r in sent]
    stmt = outbox._written_together(tuple(sorted(rows[0][1])), rows)
    async with db.transaction() as session:
        plan = "\n".join(str(line[0]) for line in await _plan(session, stmt))
    assert "Join Filter: ((outbox.id = given.id)" not in plan, plan
    assert re.search(r"(Hash|Index|Merge) Cond: \(+(outbox\.id = given\.id|given\.id = outbox\.id)", plan), plan


async def test_postgresql_claims_a_new_edition_in_the_claim_index_order(database: Database, clock: Clock) -> None:
    """Without statistics of an edition's rows, the planner expected a handful of pending rows
    and read and sorted all of them at every claim (7 ms a claim in a 20,000-message send);
    enqueueing a large edition refreshes them (``ANALYZE``), so a claim reads its batch from
    ix_outbox_claim in order."""
    if database.dialect != "postgresql":
        return  # SQLite keeps no statistics: its claim goes by the index (the test above)
    db = database
    count = 20_000  # an edition large enough for the planner to sort it (at 6,000 it did not)
    async with db.transaction() as session:
        await factories.bulk_subscribers(
            session, factories.confirmed_rows((f"r{i}@example.org" for i in range(count)), clock.now))
        edition = Edition(list_name="daily", period_key="2026-11-25", scheduled_at=clock.now, status="sending")
        session.add(edition)
    async with db.transaction() as session:  # into an outbox never analyzed yet, as a new one
        assert await outbox.enqueue_edition(session, edition, clock.now) == count
    stmt = outbox._claiming(db.dialect, "w:1", clock.now, lease=timedelta(minutes=5), limit=500, edition_id=None)
    async with db.transaction() as session:
        plan = "\n".join(str(line[0]) for line in await _plan(session, stmt))
    assert "Index Scan using ix_outbox_claim" in plan and "Sort" not in plan, plan
