"""POST /subscribe over HTTP: no enumeration, one confirmation mail per interval, coming back
after leaving, and bad input named by field."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.web.app import create_app
from subscribers import flows, store
from tests.conftest import Clock
from tests.subscribers.helpers import link, news, page, status_of, subscriber_row, to
from tests.support import factories
from tests.support.smtpd import SMTPServer


async def post_form(client: httpx.AsyncClient, email: str, **extra: str) -> httpx.Response:
    return await client.post("/subscribe", data={"email": email, "frequency": "daily", **extra})


async def post_json(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/subscribe", json={"email": email, "name": "سارة", "sections": []})


async def test_same_reply_whatever_the_address_state(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await factories.subscriber(service, "pending@example.org", status="pending")
    await factories.subscriber(service, "member@example.org")
    await factories.subscriber(service, "paused@example.org", status="paused")
    left = await factories.subscriber(service, "left@example.org")
    await factories.subscriber(service, "bounced@example.org")
    async with service.db.transaction() as session:
        await flows.unsubscribe(session, left.id, clock.now)
        await flows.disable(session, "bounced@example.org", clock.now)
        await flows.forget(session, "forgotten@example.org", erase=outbox.erase)
    states = ["new@example.org", "pending@example.org", "member@example.org", "paused@example.org",
              "left@example.org", "bounced@example.org", "forgotten@example.org"]
    async with httpx.AsyncClient(base_url=live_app) as client:
        forms = [await post_form(client, email) for email in states]
        jsons = [await post_json(client, email) for email in states]
    for replies in (forms, jsons):
        assert {(r.status_code, page(r)) for r in replies} == {(200, page(replies[0]))}
        assert {r.headers["content-type"] for r in replies} == {replies[0].headers["content-type"]}
        assert "set-cookie" not in replies[0].headers
    assert jsons[0].json()["status"] == "ok"

    await service.sender.drain()
    # confirmation links went only where asking for one is allowed: new, pending, and coming back
    assert sorted(to(r) for r in smtp_server.received) == [
        "left@example.org", "new@example.org", "pending@example.org"]
    assert await status_of(service, "member@example.org") == "confirmed"
    assert await status_of(service, "paused@example.org") == "paused"
    assert await status_of(service, "bounced@example.org") == "bounced"
    assert await subscriber_row(service, "forgotten@example.org") is None


async def test_one_confirmation_mail_per_address_per_interval(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        for _ in range(5):  # subscription bombing
            assert (await post_form(client, "target@example.org")).status_code == 200
        await service.sender.drain()
        assert len(smtp_server.received) == 1
        clock.advance(hours=23, minutes=59)
        await post_form(client, "target@example.org", frequency="weekly")
        await service.sender.drain()
        assert len(smtp_server.received) == 1
        # a pending subscriber's choices change only through a link they use (issue 13)
        target = await subscriber_row(service, "target@example.org")
        async with service.db.transaction() as session:
            assert (await store.lists_of(session, [target.id]))[target.id] == {"daily"}
        clock.advance(minutes=2)
        await post_form(client, "target@example.org")
        await service.sender.drain()
    assert [to(r) for r in smtp_server.received] == ["target@example.org"] * 2
    # both links work until they expire: the second does not cancel the first
    first, second = (link(r, "/c/") for r in smtp_server.received)
    assert first != second


async def test_coming_back_after_leaving_needs_a_new_confirmation(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await factories.ingest_items(service, 2, clock.now)
    sub = await factories.subscriber(service, "back@example.org")
    async with service.db.transaction() as session:
        await flows.unsubscribe(session, sub.id, clock.now)
    async with httpx.AsyncClient(base_url=live_app) as client:
        await post_form(client, "back@example.org")
        assert await status_of(service, "back@example.org") == "pending"
        await service.run_list("daily", clock.now)
        await service.sender.drain()
        [confirmation] = smtp_server.received  # the digest did not go: still suppressed
        assert "/c/" in link(confirmation, "/c/")
        assert (await client.post(link(confirmation, "/c/"))).status_code == 200
    assert await status_of(service, "back@example.org") == "confirmed"
    clock.advance(days=1)
    await news(service, range(20, 22), clock.now)
    await service.run_list("daily", clock.now)
    await service.sender.drain()
    assert [to(r) for r in smtp_server.received[1:]] == ["back@example.org"] * 2  # welcome, digest


async def test_bad_input_is_named_by_field(service: Service, clock: Clock, live_app: str) -> None:
    await factories.ingest_items(service, 1, clock.now)
    async with httpx.AsyncClient(base_url=live_app) as client:
        cases = {
            "email": await client.post("/subscribe", json={"email": "no-at-sign"}),
            "frequency": await client.post("/subscribe", json={"email": "a@example.org", "frequency": "monthly"}),
            "sections": await client.post("/subscribe", json={"email": "a@example.org", "sections": [999]}),
            "name": await client.post("/subscribe", json={"email": "a@example.org", "name": "x\r\nBcc: b@x.org"}),
            "body": await client.post("/subscribe", content=b"email=a@example.org",
                                      headers={"content-type": "text/plain", "accept": "application/json"}),
        }
        page = await post_form(client, "user\u202e@example.org")
    for field, reply in cases.items():
        assert reply.status_code == 400, field
        assert reply.json()["field"] == field
        assert any("\u0600" <= ch <= "\u06ff" for ch in reply.json()["message"])
    assert page.status_code == 400 and 'dir="rtl"' in page.text and "عنوان البريد" in page.text
    assert await subscriber_row(service, "a@example.org") is None


@pytest.fixture
async def utf8_service(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock
) -> AsyncIterator[Service]:
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, smtputf8=True)
    svc = await Service(settings, clock=clock).start()
    yield svc
    await svc.close()


async def test_arabic_local_part_only_where_the_relay_speaks_smtputf8(
    service: Service, utf8_service: Service, smtp_server: SMTPServer
) -> None:
    address = "أحمد@مثال.عراق"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(create_app(service)), base_url="http://t") as plain:
        refused = await post_form(plain, address)
    assert refused.status_code == 400 and "حروف غير لاتينية" in refused.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(create_app(utf8_service)), base_url="http://t") as utf8:
        assert (await post_form(utf8, address)).status_code == 200
        assert (await post_form(utf8, "user@xn--mgbh0fb.xn--mgbtx2b")).status_code == 200
    await utf8_service.sender.drain()
    assert sorted(to(r) for r in smtp_server.received) == [
        "user@xn--mgbh0fb.xn--mgbtx2b", "أحمد@مثال.عراق"]
    sub = await subscriber_row(utf8_service, "user@مثال.عراق")
    assert sub is not None and sub.email_ascii == "user@xn--mgbh0fb.xn--mgbtx2b"
