"""Migration i16a_console on SQLite and PostgreSQL: editors who exist become admins (nobody is
locked out), new ones are editors; existing subscribers get their search keys; it matches the
models, downgrades to i13_hostile_input and upgrades again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text

from mailer.core.db import Database, migrate
from mailer.editor import accounts
from tests.subscribers.test_migration import _differences

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_existing_editors_become_admins_and_subscribers_get_search_keys(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(migrate, "i13_hostile_input")
            await conn.execute(text(
                "INSERT INTO editors (name, email, password_hash, created_at, password_changed_at) "
                "VALUES ('old', 'old@news.example.com', 'x', :now, :now)"), {"now": NOW})
            await conn.execute(text(
                "INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at, bounce_score, "
                "no_shares) VALUES ('Ali@Example.org', 'ali@example.org', 'إِيمان  أحمد', 'confirmed', :now, :now, 0, "
                ":f)"), {"now": NOW, "f": False})
            await conn.execute(text(
                "INSERT INTO editor_sessions (id, editor_id, csrf_token, created_at, expires_at) "
                "SELECT 'tok', id, 'c', :now, :now FROM editors"), {"now": NOW})
            await conn.execute(text(
                "INSERT INTO subscriber_lists (list_name, subscriber_id) SELECT 'daily', id FROM subscribers"))
            await conn.run_sync(migrate, "head")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            assert (await conn.execute(text("SELECT role FROM editors"))).scalar() == "admin"
            keys = (await conn.execute(text("SELECT search_email, search_name FROM subscribers"))).one()
            assert tuple(keys) == ("ali@example.org", "ايمان احمد")
            kept = "SELECT (SELECT count(*) FROM editor_sessions) + (SELECT count(*) FROM subscriber_lists)"
            assert (await conn.execute(text(kept))).scalar() == 2  # no table was copied under them
        async with db.transaction() as session:
            new = await accounts.add(session, "newbie", "new@news.example.com", "a long password", NOW)
            assert new.role == "editor"
        async with db.engine.begin() as conn:
            await conn.run_sync(migrate, "i13_hostile_input", down=True)
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert not {"audit_log", "import_jobs"} & tables
            columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("editors")})
            assert "role" not in columns
            assert (await conn.execute(text(kept))).scalar() == 2
        await db.upgrade()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            roles = dict((await conn.execute(text("SELECT name, role FROM editors"))).all())
            assert roles == {"old": "admin", "newbie": "admin"}  # back up again: everyone there is trusted
    finally:
        await db.dispose()
