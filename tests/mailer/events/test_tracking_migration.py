"""Migration i16b_tracking upgrades and downgrades on SQLite and PostgreSQL, keeping the rest."""

from __future__ import annotations

from sqlalchemy import inspect

from mailer.core.db import Database, migrate


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: set(inspect(c).get_table_names()))


async def test_the_tracking_tables_come_and_go_with_their_revision(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.upgrade()
        assert {"tracking_counts", "reader_events", "editions", "outbox"} <= await _tables(db)
        async with db.engine.begin() as conn:
            await conn.run_sync(migrate, "i13_hostile_input", down=True)
        tables = await _tables(db)
        assert not {"tracking_counts", "reader_events"} & tables and {"editions", "subscribers"} <= tables
        async with db.engine.begin() as conn:
            await conn.run_sync(migrate, "i16b_tracking")
        assert {"tracking_counts", "reader_events"} <= await _tables(db)
    finally:
        await db.dispose()
