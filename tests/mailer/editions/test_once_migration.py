"""Migration i12_trust on a database that already sent editions: the articles they carried are
claimed (the earliest edition wins), the installation starts at the oldest data, and it can be
undone and redone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect, text

from mailer.core.db import Database, migrate

OLD = datetime(2026, 10, 1, 4, 0, tzinfo=UTC)


async def test_the_articles_already_sent_are_claimed_and_the_installation_dated(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(migrate, "0006_throughput")
            naive = conn.dialect.name == "sqlite"
            at = (lambda d: d.replace(tzinfo=None)) if naive else (lambda d: d)
            for n in (1, 2, 3):
                await conn.execute(text(
                    "INSERT INTO articles (id, guid, url, title, summary_html, summary_text, body_html, status, "
                    "published_at, content_hash, created_at, updated_at) VALUES (:n, :g, :u, :t, '', '', '', "
                    "'published', :at, 'h', :at, :at)"), {"n": n, "g": f"g{n}", "u": f"https://x/{n}", "t": f"t{n}",
                                                         "at": at(OLD + timedelta(days=n))})
            editions = [(1, "daily", "sent"), (2, "daily", "sent"), (3, "daily", "held"), (4, "weekly", "sending")]
            for eid, name, status in editions:
                await conn.execute(text(
                    "INSERT INTO editions (id, list_name, period_key, scheduled_at, status, created_at, started_at) "
                    "VALUES (:id, :name, :key, :at, :status, :at, :at)"),
                    {"id": eid, "name": name, "key": f"p{eid}", "status": status, "at": at(OLD + timedelta(days=eid))})
            # edition 2 repeated article 1 (what happened before the rule); 3 was never sent
            for eid, article, excluded in [(1, 1, False), (1, 2, True), (2, 1, False), (2, 2, False),
                                           (3, 3, False), (4, 1, False)]:
                await conn.execute(text(
                    "INSERT INTO edition_articles (edition_id, article_id, position, excluded) "
                    "VALUES (:e, :a, 0, :x)"), {"e": eid, "a": article, "x": excluded})
            await conn.run_sync(migrate, "head")
            claims = sorted((await conn.execute(text(
                "SELECT list_name, article_id, edition_id FROM list_articles"))).all())
            installed = (await conn.execute(text("SELECT installed_at FROM installation"))).scalar()
            refused = set((await conn.execute(text("SELECT refused_in_row FROM editions"))).scalars())
        assert claims == [("daily", 1, 1), ("daily", 2, 2), ("weekly", 1, 4)]
        if isinstance(installed, str):  # SQLite hands a raw query its text
            installed = datetime.fromisoformat(installed)
        assert installed is not None and installed.replace(tzinfo=UTC) == OLD + timedelta(days=1)
        assert refused == {0}

        async with db.engine.begin() as conn:
            await conn.run_sync(migrate, "0006_throughput", down=True)
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert not {"list_articles", "installation"} & tables
            await conn.run_sync(migrate, "head")
            assert (await conn.execute(text("SELECT count(*) FROM list_articles"))).scalar() == 3
    finally:
        await db.dispose()
