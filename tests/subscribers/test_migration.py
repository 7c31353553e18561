"""Migration 0002_subscribers applies on SQLite and PostgreSQL and matches the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

import mailer.core.models  # noqa: F401  (registers the tables)
import subscribers.models  # noqa: F401
from mailer.core.db import Base, Database, migrate


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_matches_the_models_and_downgrades(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("subscribers")})
            assert "source" in columns
        async with db.engine.begin() as conn:
            await conn.run_sync(migrate, "0001_initial", down=True)
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert "confirmations" not in tables and "subscribers" in tables
        await db.upgrade()  # and up again
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await db.dispose()
