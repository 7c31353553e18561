"""Migration 0004_shares creates exactly the tables the models describe, and can be undone."""

from __future__ import annotations

from sqlalchemy import inspect

from mailer.core.db import Base, Database, migrate

TABLES = {"shares", "share_optouts"}


async def test_migration_matches_the_models_and_downgrades(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = Database(database_url)
    try:
        await db.upgrade()

        def diff(connection):
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return [d for d in compare_metadata(context, Base.metadata) if TABLES & _tables(d)]

        async with db.engine.connect() as conn:
            assert await conn.run_sync(diff) == []

        def downgrade(connection):
            migrate(connection, "0001_initial", down=True)
            return set(inspect(connection).get_table_names())

        async with db.engine.begin() as conn:
            assert not TABLES & await conn.run_sync(downgrade)
        await db.upgrade()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(lambda c: set(inspect(c).get_table_names())) >= TABLES
    finally:
        await db.dispose()


def _tables(entry) -> set[str]:
    """The table names an autogenerate diff entry is about (entries nest for column changes)."""
    if isinstance(entry, list):
        return set().union(*(_tables(e) for e in entry))
    names = set()
    for part in entry:
        name = getattr(part, "name", None) if not isinstance(part, str) else None
        table = getattr(part, "table", None)
        if table is not None:
            names.add(table.name)
        elif name:
            names.add(name)
        elif isinstance(part, str):
            names.add(part)
    return names
