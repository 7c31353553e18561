"""The migrations build exactly the tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import mailer.core.models  # noqa: F401  (registers the tables)
import subscribers.models  # noqa: F401
from mailer.core.db import Base, Database


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgraded_schema_matches_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(_differences)
            tables = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
    finally:
        await db.dispose()
    assert {"editors", "editor_sessions"} <= tables
    assert differences == []
