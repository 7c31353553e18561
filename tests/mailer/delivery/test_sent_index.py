"""Migration i18b_sent_index on SQLite and PostgreSQL: ix_outbox_sent_at holds only sent rows, so
claiming a row no longer writes it, and the console's sends per day still read it alone."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailer.core.db import Database, migrate

# the shape of the console's "delivered" count (mailer/editor/stats.py): a day's range of sent_at
DELIVERED = ("SELECT count(*) FROM outbox WHERE sent_at >= '2026-12-01' AND sent_at < '2026-12-02' "
             "AND status || '' = 'sent' AND kind <> 'test'")


def _sent_index(connection: Connection) -> dict[str, Any]:
    return next(i for i in sa.inspect(connection).get_indexes("outbox") if i["name"] == "ix_outbox_sent_at")


def _predicate(index: dict[str, Any]) -> str:
    options = index.get("dialect_options", {})
    where = options.get("sqlite_where", options.get("postgresql_where"))
    return "" if where is None else str(where).lower()


async def test_upgrade_and_downgrade(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(migrate, "i18_bulk")
            assert _predicate(await conn.run_sync(_sent_index)) == ""
            await conn.run_sync(migrate, "i18b_sent_index")
            assert "sent_at is not null" in _predicate(await conn.run_sync(_sent_index))
            if db.dialect == "postgresql":
                await conn.execute(sa.text("SET LOCAL enable_seqscan = off"))  # a tiny table: is it usable?
                plan = "\n".join(str(r[0]) for r in await conn.execute(sa.text(f"EXPLAIN {DELIVERED}")))
            else:
                plan = "\n".join(str(r[-1]) for r in await conn.execute(sa.text(f"EXPLAIN QUERY PLAN {DELIVERED}")))
            assert "ix_outbox_sent_at" in plan, plan
            await conn.run_sync(migrate, "i18_bulk", down=True)
            assert _predicate(await conn.run_sync(_sent_index)) == ""
            await conn.run_sync(migrate, "head")
    finally:
        await db.dispose()
