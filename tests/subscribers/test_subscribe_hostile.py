"""POST /subscribe against an attacker (issue 13): the answer comes before the work, so its time
says nothing about the address (point 5); confirmation mail is limited per client and overall
(point 6); a pending subscriber's choices change only through their own link (point 16); one
subscriber per mailbox, whatever the case of the address (point 10)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import text

from mailer.delivery.service import Service
from subscribers import store
from tests.conftest import Clock, serve
from tests.subscribers.helpers import link, page, status_of, subscriber_row
from tests.support import factories
from tests.support.smtpd import SMTPServer

ARABIC = re.compile(r"[\u0600-\u06ff]{3,}")


@asynccontextmanager
async def subscribers_locked(svc: Service) -> AsyncIterator[None]:
    """Hold the lock a subscription needs to write, from another connection, for the block."""
    async with svc.db.engine.connect() as conn:
        if svc.db.dialect == "sqlite":
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            await conn.begin()
            await conn.execute(text("LOCK TABLE subscribers IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await conn.rollback()


async def test_the_answer_comes_before_the_work(service: Service, smtp_server: SMTPServer, live_app: str) -> None:
    """While nothing can be written, the answer is already there: whatever is done with the
    address (insert, update, a confirmation mail, or nothing at all) happens after it."""
    await factories.subscriber(service, "member@example.org")
    async with httpx.AsyncClient(base_url=live_app, timeout=10) as client, subscribers_locked(service):
        replies = [await client.post("/subscribe", data={"email": email})
                   for email in ("new@example.org", "member@example.org")]
        assert [r.status_code for r in replies] == [200, 200]
        assert page(replies[0]) == page(replies[1])
    # the work was done once the lock was gone
    assert await status_of(service, "new@example.org") == "pending"
    await service.sender.drain()
    assert [r.rcpt_tos[0] for r in smtp_server.received] == ["new@example.org"]


async def test_confirmation_mail_is_limited_per_client(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    limited = await Service(service.settings.model_copy(update={"subscribe_ip_limits": "3/minute"}),
                            clock=clock).start()
    try:
        async with serve(limited) as url, httpx.AsyncClient(base_url=url) as client:
            replies = [await client.post("/subscribe", data={"email": f"victim{n}@example.org"}) for n in range(6)]
        assert [r.status_code for r in replies] == [200] * 3 + [429] * 3
        assert int(replies[3].headers["Retry-After"]) > 0 and ARABIC.search(replies[3].text)
        await limited.sender.drain()
    finally:
        await limited.close()
    assert len(smtp_server.received) == 3


async def test_confirmation_mail_has_a_global_breaker(service: Service, smtp_server: SMTPServer, clock: Clock) -> None:
    settings = service.settings.model_copy(update={"subscribe_global_per_hour": 2, "trusted_proxies": ("127.0.0.1",)})
    limited = await Service(settings, clock=clock).start()
    try:
        async with serve(limited) as url, httpx.AsyncClient(base_url=url) as client:
            replies = []
            for n in range(4):  # four clients, one request each
                replies.append(await client.post("/subscribe", json={"email": f"r{n}@example.org"},
                                                 headers={"X-Forwarded-For": f"203.0.113.{n}"}))
                await limited.later.settle()
            clock.advance(hours=1, seconds=1)
            later = await client.post("/subscribe", json={"email": "r9@example.org"},
                                      headers={"X-Forwarded-For": "203.0.113.9"})
        assert [r.status_code for r in replies] == [200, 200, 429, 429]
        assert ARABIC.search(replies[2].json()["message"])
        assert later.status_code == 200
        await limited.sender.drain()
    finally:
        await limited.close()
    assert len(smtp_server.received) == 3


async def lists_of(service: Service, subscriber_id: int) -> set[str]:
    async with service.db.transaction() as session:
        return set((await store.lists_of(session, [subscriber_id])).get(subscriber_id, ()))


async def test_a_pending_subscribers_choices_change_only_through_their_own_link(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        await client.post("/subscribe", data={"email": "sara@example.org", "name": "سارة", "frequency": "daily"})
        await service.sender.drain()
        # someone else, before and after the interval in which no second mail goes out
        await client.post("/subscribe", data={"email": "sara@example.org", "name": "Call +1 555 0100",
                                              "frequency": "weekly"})
        clock.advance(hours=25)
        await client.post("/subscribe", data={"email": "sara@example.org", "name": "اتصل بنا الآن",
                                              "frequency": "weekly"})
        sub = await subscriber_row(service, "sara@example.org")
        assert sub is not None and (sub.name, await lists_of(service, sub.id)) == ("سارة", {"daily"})
        await service.sender.drain()
        own, theirs = (link(r, "/c/") for r in smtp_server.received)
        assert "الأسبوعية" in str(smtp_server.received[1].message["Subject"])  # the list that request asked for
        assert (await client.post(own)).status_code == 200
    sub = await subscriber_row(service, "sara@example.org")
    assert sub is not None and (sub.status, sub.name, await lists_of(service, sub.id)) == ("confirmed", "سارة", {"daily"})
    assert theirs != own


async def test_one_subscriber_per_mailbox_whatever_the_case(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        for address in ("Reader@Example.org", "reader@example.org", "READER@EXAMPLE.ORG"):
            assert (await client.post("/subscribe", data={"email": address})).status_code == 200
            await asyncio.sleep(0)
    await service.sender.drain()
    async with service.db.transaction() as session:
        rows = (await session.execute(text("SELECT email FROM subscribers"))).all()
    assert [r[0] for r in rows] == ["Reader@example.org"]  # as first given, domain in lower case
    assert len(smtp_server.received) == 1
