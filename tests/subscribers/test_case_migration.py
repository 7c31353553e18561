"""The migration to one subscriber per mailbox merges rows whose addresses differ only in case,
keeping the one that says the least mail, on SQLite and PostgreSQL (issue 13, point 10)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from mailer.core.db import Database, migrate
from subscribers import store

NOW = datetime(2026, 11, 25, tzinfo=UTC)
ROWS = [  # id, address, status
    (1, "Ali@example.org", "confirmed"), (2, "ali@example.org", "unsubscribed"),
    (3, "Sara@example.org", "pending"), (4, "sara@example.org", "confirmed"), (5, "SARA@example.org", "pending"),
    (6, "other@example.org", "confirmed"),
]


async def test_case_duplicates_are_merged_keeping_the_least_mail(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(migrate, "0006_throughput")
            await conn.execute(text("INSERT INTO sections (id, name, created_at) VALUES (1, 'سياسة', :now)"),
                               {"now": NOW})
            for row_id, email, status in ROWS:
                await conn.execute(text(
                    "INSERT INTO subscribers (id, email, status, frequency, created_at, updated_at, bounce_score,"
                    " no_shares) VALUES (:id, :email, :status, 'daily', :now, :now, 0, false)"),
                    {"id": row_id, "email": email, "status": status, "now": NOW})
                await conn.execute(text("INSERT INTO subscriber_sections VALUES (:id, 1)"), {"id": row_id})
        await db.upgrade()
        async with db.transaction() as session:
            left = (await session.execute(text("SELECT id, email, email_key, status FROM subscribers ORDER BY id"))).all()
            sections = (await session.execute(text("SELECT subscriber_id FROM subscriber_sections ORDER BY 1"))).all()
            found = await store.by_email(session, "ALI@EXAMPLE.ORG")
    finally:
        await db.dispose()
    assert [tuple(r) for r in left] == [
        (2, "ali@example.org", "ali@example.org", "unsubscribed"),
        (4, "sara@example.org", "sara@example.org", "confirmed"),
        (6, "other@example.org", "other@example.org", "confirmed"),
    ]
    assert [r[0] for r in sections] == [2, 4, 6]
    assert found is not None and found.id == 2
