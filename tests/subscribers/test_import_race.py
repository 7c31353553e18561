"""An import and a subscription from the site adding the same mailbox at the same moment: the
import goes on (the subscriber is counted as already there) and nothing is written twice."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from mailer.core.lists import default_lists
from mailer.delivery.service import Service
from subscribers import importer, store
from subscribers.models import Subscriber
from tests.conftest import Clock
from tests.support import factories

LISTS = default_lists("0 7 * * *", "0 7 * * 5")


@pytest.mark.parametrize("confirmed", [True, False], ids=["confirmed", "pending"])
async def test_a_mailbox_added_by_the_site_during_an_import_is_counted_as_there(
    service: Service, clock: Clock, confirmed: bool
) -> None:
    parsed = importer.parse(b"email,name\nfirst@example.org,\nrace@example.org,\nlast@example.org,\n",
                            lists=LISTS, sections={})
    assert not parsed.problems
    notices: list[object] = []

    async def notify(_session: object, found: list[object]) -> None:
        notices.extend(found)

    async with service.db.sessions() as other:
        # the site's subscription has written its row and not committed when the import starts
        await other.begin()
        await store.insert_many(other, factories.confirmed_rows(["race@example.org"], clock.now), [["daily"]], [[]])
        async with service.db.transaction() as session:
            applying = asyncio.ensure_future(importer.apply(
                session, service.settings, parsed.rows, now=clock.now, confirmed=confirmed, notify=notify))
            await asyncio.sleep(0.5)
            # SQLite: waiting for the write lock, before its check; PostgreSQL: its check did not
            # see the row, and its insert waits on that row's key
            assert not applying.done(), applying.result()
            await other.commit()
            applied = await asyncio.wait_for(applying, 30)
    assert (applied.added, applied.existing) == (2, 1)
    async with service.db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(Subscriber))
        race = await store.by_email(session, "race@example.org")
    assert count == 3
    assert race is not None and race.status == "confirmed" and race.source != "import"
    assert len(notices) == (0 if confirmed else 2)  # a confirmation mail for each new row only
