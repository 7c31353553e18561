"""An import's list and section rows skip PostgreSQL's per-row foreign key triggers only where
the checks cannot fail and the role may: never a dangling row, and nothing else skipped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import Database, foreign_keys_known_to_hold
from mailer.core.models import Section
from subscribers import store
from subscribers.models import SubscriberList, SubscriberSection
from tests.conftest import Clock
from tests.support import factories

TABLES = [SubscriberList.metadata.tables[name] for name in ("subscriber_lists", "subscriber_sections")]
REFUSED = IntegrityError  # SQLAlchemy's, from the COPY and executemany past it too (``insert_rows``)


def _rows(now: datetime, *names: str) -> list[dict[str, Any]]:
    return factories.confirmed_rows((f"{n}@example.org" for n in names), now)


async def _section(db: Database) -> int:
    async with db.transaction() as session:
        section = Section(name="سياسة")
        session.add(section)
        await session.flush()
        return section.id


async def _role(session: AsyncSession) -> str:
    return str(await session.scalar(text("SHOW session_replication_role")))


async def test_a_missing_section_is_refused_and_nothing_is_written(database: Database, clock: Clock) -> None:
    section = await _section(database)
    with pytest.raises(REFUSED):
        async with database.transaction() as session:
            await store.insert_many(session, _rows(clock.now, "a", "b"), [["daily"], ["daily"]],
                                    [[section], [section + 99]])
    async with database.transaction() as session:
        counts = [await session.scalar(select(func.count()).select_from(t)) for t in TABLES]
    assert counts == [0, 0]


async def test_the_rows_are_written_and_the_checks_come_back(database: Database, clock: Clock) -> None:
    section = await _section(database)
    async with database.transaction() as session:
        async with foreign_keys_known_to_hold(session, TABLES) as off:
            inside = await _role(session) if database.dialect == "postgresql" else None
        after = await _role(session) if database.dialect == "postgresql" else None
        ids = await store.insert_many(session, _rows(clock.now, "a", "b"), [["daily"], ["daily", "breaking"]],
                                      [[section], []])
        # within the same transaction, a row that references nothing is still refused
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await session.execute(TABLES[1].insert().values(subscriber_id=ids[1] + 99,
                                                                section_id=section))
    # the test server's role is a superuser: the triggers were off inside the block, on after it
    assert (off, inside, after) == ((True, "replica", "origin") if database.dialect == "postgresql" else
                                    (False, None, None))
    async with database.transaction() as session:
        lists = sorted((await session.execute(select(SubscriberList.subscriber_id, SubscriberList.list_name))).all())
        sections = (await session.execute(select(SubscriberSection.subscriber_id, SubscriberSection.section_id))).all()
    assert lists == [(ids[0], "daily"), (ids[1], "breaking"), (ids[1], "daily")]
    assert sections == [(ids[0], section)]


async def test_no_table_named_turns_nothing_off(database: Database) -> None:
    async with database.transaction() as session, foreign_keys_known_to_hold(session, []) as off:
        assert off is False
        if database.dialect == "postgresql":
            assert await _role(session) == "origin"


async def test_a_table_with_a_trigger_of_its_own_keeps_every_trigger(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("SQLite's foreign key checks are never turned off")
    async with database.transaction() as session:
        await session.execute(text("CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS "
                                   "'BEGIN RETURN NEW; END'"))
        await session.execute(text("CREATE TRIGGER audit AFTER INSERT ON subscriber_sections "
                                   "FOR EACH ROW EXECUTE FUNCTION audit()"))
    async with database.transaction() as session, foreign_keys_known_to_hold(session, TABLES) as off:
        assert (off, await _role(session)) == (False, "origin")


@pytest.fixture
async def plain_role(database: Database) -> AsyncIterator[Database]:
    """The same database through a role that is no superuser and may not set the setting."""
    if database.dialect != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    name = f"mailer_plain_{uuid.uuid4().hex[:8]}"
    async with database.transaction() as session:
        await session.execute(text(f"CREATE ROLE {name} LOGIN NOSUPERUSER"))
        await session.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {name}"))
        await session.execute(text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {name}"))
    plain = Database(make_url(database.url).set(username=name).render_as_string(hide_password=False))
    try:
        yield plain
    finally:
        await plain.dispose()
        async with database.transaction() as session:
            await session.execute(text(f"DROP OWNED BY {name}"))
            await session.execute(text(f"DROP ROLE {name}"))


async def test_a_role_that_may_not_keeps_the_checks_and_its_transaction(plain_role: Database, clock: Clock) -> None:
    section = await _section(plain_role)
    async with plain_role.transaction() as session:
        async with foreign_keys_known_to_hold(session, TABLES) as off:
            assert (off, await _role(session)) == (False, "origin")
        ids = await store.insert_many(session, _rows(clock.now, "a"), [["daily"]], [[section]])
    with pytest.raises(REFUSED):
        async with plain_role.transaction() as session:
            await store.insert_many(session, _rows(clock.now, "b"), [["daily"]], [[section + 99]])
    async with plain_role.transaction() as session:
        written = (await session.execute(select(SubscriberSection.subscriber_id, SubscriberSection.section_id))).all()
    assert written == [(ids[0], section)]


async def test_a_role_granted_the_setting_skips_the_triggers(database: Database, plain_role: Database) -> None:
    name = make_url(plain_role.url).username
    async with database.transaction() as session:  # PostgreSQL 15 and later; what the README tells operators
        await session.execute(text(f"GRANT SET ON PARAMETER session_replication_role TO {name}"))
    try:
        async with plain_role.transaction() as session:
            async with foreign_keys_known_to_hold(session, TABLES) as off:
                assert (off, await _role(session)) == (True, "replica")
            assert await _role(session) == "origin"
    finally:
        async with database.transaction() as session:
            await session.execute(text(f"REVOKE SET ON PARAMETER session_replication_role FROM {name}"))
