"""Migration i15_newsroom on SQLite and PostgreSQL: every subscriber keeps the list they chose
(``frequency`` becomes a row of ``subscriber_lists``), stored articles get their link keys, and a
downgrade gives the frequency back."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailer.core.db import Database, migrate
from mailer.core.links import link_keys

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def _old_rows(connection: Connection) -> None:
    stamp = NOW.replace(tzinfo=None) if connection.dialect.name == "sqlite" else NOW
    for n, frequency in enumerate(("daily", "weekly", "daily"), start=1):
        connection.execute(sa.text(
            "INSERT INTO subscribers (id, email, status, frequency, created_at, updated_at, bounce_score, no_shares) "
            "VALUES (:id, :email, 'confirmed', :frequency, :at, :at, 0, false)"
        ), {"id": n, "email": f"s{n}@example.org", "frequency": frequency, "at": stamp})
    connection.execute(sa.text(
        "INSERT INTO articles (id, guid, url, title, summary_html, summary_text, body_html, status, published_at, "
        "content_hash, created_at, updated_at) VALUES (7, 'g7', 'https://www.news.example.com/news/7/?utm_source=x', "
        "'t', '', '', '', 'published', :at, 'h', :at, :at)"
    ), {"at": stamp})
    # rows that refer to the altered tables: a table copied and dropped under them would lose them
    connection.execute(sa.text("INSERT INTO sections (id, name, created_at) VALUES (3, 'سياسة', :at)"), {"at": stamp})
    connection.execute(sa.text("INSERT INTO subscriber_sections (subscriber_id, section_id) VALUES (1, 3)"))
    connection.execute(sa.text(
        "INSERT INTO editions (id, list_name, period_key, scheduled_at, status, created_at) "
        "VALUES (5, 'daily', 'p', :at, 'sent', :at)"), {"at": stamp})
    connection.execute(sa.text("INSERT INTO edition_articles (edition_id, article_id, position, excluded) "
                               "VALUES (5, 7, 0, false)"))
    connection.execute(sa.text("INSERT INTO edition_variants (edition_id, variant_key, subject, html, text, created_at) "
                               "VALUES (5, 'all', 's', 'h', 't', :at)"), {"at": stamp})
    connection.execute(sa.text(
        "INSERT INTO outbox (kind, edition_id, subscriber_id, recipient, priority, status, attempts, recoveries, "
        "history, next_attempt_at, created_at) VALUES ('digest', 5, 2, 's2@example.org', 10, 'sent', 1, 0, '[]', :at, :at)"
    ), {"at": stamp})


KEPT = ("SELECT (SELECT count(*) FROM subscriber_sections) + (SELECT count(*) FROM edition_articles) + "
        "(SELECT count(*) FROM edition_variants) + (SELECT count(*) FROM outbox WHERE subscriber_id = 2)")


async def test_subscribers_keep_their_list_and_articles_get_link_keys(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(migrate, "0006_throughput")
            await conn.run_sync(_old_rows)
        await db.upgrade()
        async with db.engine.connect() as conn:
            rows = set((await conn.execute(sa.text("SELECT list_name, subscriber_id FROM subscriber_lists"))).all())
            assert rows == {("daily", 1), ("weekly", 2), ("daily", 3)}
            columns = {c["name"] for c in await conn.run_sync(lambda c: sa.inspect(c).get_columns("subscribers"))}
            assert "frequency" not in columns
            keys = (await conn.execute(sa.text("SELECT link_key, link_base_key FROM articles WHERE id = 7"))).one()
            assert tuple(keys) == (link_keys("http://news.example.com/news/7").full,
                                   link_keys("https://news.example.com/news/7").base)
            kind = (await conn.execute(sa.text("SELECT count(*) FROM editions WHERE kind <> 'digest'"))).scalar()
            assert kind == 0
            assert (await conn.execute(sa.text(KEPT))).scalar() == 4
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO subscriber_lists (list_name, subscriber_id) VALUES ('weekly', 3)"))
            await conn.run_sync(migrate, "0006_throughput", down=True)
        async with db.engine.connect() as conn:
            back = dict((await conn.execute(sa.text("SELECT id, frequency FROM subscribers"))).all())
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
            assert (await conn.execute(sa.text(KEPT))).scalar() == 4
        # a subscriber of both daily and weekly keeps daily: the column holds one
        assert back == {1: "daily", 2: "weekly", 3: "daily"}
        assert "subscriber_lists" not in tables and "feeds" not in tables
        await db.upgrade()  # and up again
    finally:
        await db.dispose()
