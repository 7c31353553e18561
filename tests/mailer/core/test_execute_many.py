"""``execute_many`` (executemany past SQLAlchemy's per-row work) writes what SQLAlchemy writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, func, select, update

from mailer.core.db import Database, execute_many
from mailer.core.models import OutboxMessage
from mailer.delivery import outbox
from tests.conftest import Clock


async def test_rows_are_written_as_sqlalchemy_writes_them(database: Database, clock: Clock) -> None:
    db, table = database, OutboxMessage.__table__
    async with db.transaction() as session:
        rows = [outbox.message_row(kind="share", recipient=f"r{i}@example.org", payload=b"x",
                                   message_id=f"m{i}", now=clock.now) for i in range(4)]
        session.add_all(rows)
        await session.flush()
        ids = [row.id for row in rows]
    later = clock.now + timedelta(minutes=5)
    # a compare-and-set like the sender's: the statement's own value ("pending") with each row's
    stmt = (update(table).where(table.c.id == bindparam("b_id"), table.c.status == "pending")
            .values(status=bindparam("v_status"), sent_at=bindparam("v_sent_at")))
    async with db.transaction() as session:
        changed = await execute_many(session, stmt, [
            {"b_id": ids[0], "v_status": "sent", "v_sent_at": later},
            {"b_id": ids[1], "v_status": "sent", "v_sent_at": later},
            {"b_id": ids[1] + 1000, "v_status": "sent", "v_sent_at": later},  # no such row
        ])
        # what SQLAlchemy itself writes, for the same time, to a third row
        await session.execute(update(table).where(table.c.id == ids[2]).values(status="sent", sent_at=later))
        # a row the compare-and-set refuses
        await session.execute(update(table).where(table.c.id == ids[3]).values(status="sending"))
        refused = await execute_many(session, stmt, [{"b_id": ids[3], "v_status": "sent", "v_sent_at": later}])
    # SQLite counts the rows changed; asyncpg's executemany counts nothing
    assert (changed, refused) == ((2, 0) if db.dialect == "sqlite" else (None, None))
    async with db.transaction() as session:
        by_time = await session.scalar(
            select(func.count()).select_from(table).where(table.c.sent_at == later, table.c.status == "sent"))
        read = dict((await session.execute(select(table.c.id, table.c.sent_at).where(table.c.id.in_(ids)))).all())
        assert await execute_many(session, stmt, []) == 0
        with pytest.raises(KeyError, match="v_sent_at"):  # never NULL in its place
            await execute_many(session, stmt, [{"b_id": ids[0], "v_status": "sent"}])
    assert by_time == 3  # the two written here compare in SQL with SQLAlchemy's own
    assert (read[ids[0]], read[ids[1]], read[ids[2]], read[ids[3]]) == (later, later, later, None)
