"""The links of an erased subscriber never act on the next person (issue 13, point 2): SQLite hands
the largest id out again once its row is deleted, so a token names a per-subscriber random value
too, which ``forget`` destroys; an erased person's links answer like forged ones."""

from __future__ import annotations

import httpx

from mailer.delivery import outbox
from mailer.delivery.service import Service
from subscribers import flows
from tests.conftest import Clock
from tests.subscribers.helpers import link, one_click_path, page, status_of
from tests.support import factories
from tests.support.smtpd import SMTPServer

FORGED_PREFS = "/p/1.pref.AAAAAAAAAAAAAAAAAAAAAAAAAA"


async def test_an_erased_persons_links_do_not_open_or_unsubscribe_the_next_one(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await factories.ingest_items(service, 2, clock.now)
    first = await factories.subscriber(service, "first@example.org", name="الأول")
    await service.run_list("daily", clock.now)
    await service.sender.drain()
    prefs, unsubscribe = link(smtp_server.received[0], "/p/"), one_click_path(smtp_server.received[0])
    async with service.db.transaction() as session:
        await flows.forget(session, "first@example.org", erase=outbox.erase)
    second = await factories.subscriber(service, "second@example.org", name="الثاني")
    if service.db.dialect == "sqlite":
        assert second.id == first.id  # the id came back: the old links name it
    async with httpx.AsyncClient(base_url=live_app) as client:
        forged = await client.get(FORGED_PREFS)
        answers = [await client.get(prefs), await client.post(prefs, data={"action": "leave"}),
                   await client.get(unsubscribe), await client.post(unsubscribe)]
    for reply in answers:
        assert (reply.status_code, page(reply)) == (forged.status_code, page(forged))
        assert "second@example.org" not in reply.text and "الثاني" not in reply.text
    assert forged.status_code == 400
    assert await status_of(service, "second@example.org") == "confirmed"


async def test_links_of_a_living_subscriber_still_work(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await factories.ingest_items(service, 2, clock.now)
    await factories.subscriber(service, "reader@example.org", name="قارئ")
    await service.run_list("daily", clock.now)
    await service.sender.drain()
    prefs, unsubscribe = link(smtp_server.received[0], "/p/"), one_click_path(smtp_server.received[0])
    async with httpx.AsyncClient(base_url=live_app) as client:
        page = await client.get(prefs)
        assert page.status_code == 200 and "reader@example.org" in page.text
        assert (await client.post(unsubscribe)).status_code == 200
    assert await status_of(service, "reader@example.org") == "unsubscribed"
