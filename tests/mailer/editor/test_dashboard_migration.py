"""Migration i16c_dashboard on SQLite and PostgreSQL: the list_counts and daily_totals tables and
the indexes for counting per day come and go, and the rows around them stay."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailer.core.db import Database, migrate


def _shape(connection: Connection) -> tuple[set[str], set[str], set[str]]:
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names())
    return (tables, {i["name"] for i in inspector.get_indexes("outbox")},
            {i["name"] for i in inspector.get_indexes("subscribers")})


async def test_upgrade_and_downgrade(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(migrate, "i13_hostile_input")
            await conn.execute(sa.text(
                "INSERT INTO subscribers (email, email_key, status, created_at, updated_at, bounce_score, no_shares) "
                "VALUES ('a@example.org', 'a@example.org', 'confirmed', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0, false)"))
            await conn.run_sync(migrate, "i16c_dashboard")
            tables, outbox, subscribers = await conn.run_sync(_shape)
            assert {"list_counts", "daily_totals"} <= tables
            assert "ix_outbox_sent_at" in outbox and "ix_subscribers_unsubscribed_at" in subscribers
            await conn.execute(sa.text(
                "INSERT INTO list_counts (day, list_name, subscribers, taken_at) "
                "VALUES ('2026-12-01', 'daily', 1, CURRENT_TIMESTAMP)"))
            await conn.run_sync(migrate, "i13_hostile_input", down=True)
            tables, outbox, subscribers = await conn.run_sync(_shape)
            assert not {"list_counts", "daily_totals"} & tables
            assert "ix_outbox_sent_at" not in outbox and "ix_subscribers_unsubscribed_at" not in subscribers
            assert await conn.scalar(sa.text("SELECT count(*) FROM subscribers")) == 1
            await conn.run_sync(migrate, "head")
    finally:
        await db.dispose()
