"""The preferences page every mail links to: sections, frequency and name, pause, a new address
confirmed at that address, and leaving."""

from __future__ import annotations

import httpx

from mailer.delivery.service import Service
from subscribers import store
from tests.conftest import Clock
from tests.subscribers.helpers import link, news, status_of, subscriber_row, to
from tests.support import factories
from tests.support.smtpd import Received, SMTPServer


async def digest_to(
    svc: Service, smtp: SMTPServer, clock: Clock, numbers: range, section: str = "سياسة"
) -> list[Received]:
    """Next day's digests with fresh articles; what arrived."""
    clock.advance(days=1)
    await news(svc, numbers, clock.now, section)
    before = len(smtp.received)
    await svc.run_list("daily", clock.now)
    await svc.run_list("weekly", clock.now)
    await svc.sender.drain()
    return smtp.received[before:]


async def test_preferences_from_the_digest(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await factories.ingest_items(service, 1, clock.now, section="سياسة")
    await factories.ingest_items(service, 1, clock.now, section="رياضة", title="خبر رياضي")
    await factories.subscriber(service, "reader@example.org", name="قارئ")
    [digest] = await digest_to(service, smtp_server, clock, range(1, 3))
    prefs = link(digest, "/p/")
    async with service.db.transaction() as session:
        sections = {name: id_ for id_, name in (await store.section_names(session)).items()}

    async with httpx.AsyncClient(base_url=live_app) as client:
        page = await client.get(prefs)
        assert page.status_code == 200 and 'dir="rtl"' in page.text and "قارئ" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        saved = await client.post(prefs, data={
            "action": "save", "name": "ليلى", "frequency": "daily", "sections": [str(sections["رياضة"])]})
        assert saved.status_code == 200 and "تم حفظ تفضيلاتك" in saved.text
        sub = await subscriber_row(service, "reader@example.org")
        assert sub.name == "ليلى"
        async with service.db.transaction() as session:
            assert (await store.sections_of(session, [sub.id]))[sub.id] == {sections["رياضة"]}

        assert await digest_to(service, smtp_server, clock, range(30, 33), "سياسة") == []
        [digest] = await digest_to(service, smtp_server, clock, range(34, 36), "رياضة")
        assert "ليلى" in digest.message.get_body(("plain",)).get_content()

        paused = await client.post(prefs, data={"action": "pause"})
        assert paused.status_code == 200 and await status_of(service, "reader@example.org") == "paused"
        assert await digest_to(service, smtp_server, clock, range(40, 43), "رياضة") == []
        await client.post(prefs, data={"action": "resume"})
        assert await status_of(service, "reader@example.org") == "confirmed"

        await client.post(prefs, data={"action": "save", "name": "ليلى", "frequency": "weekly"})
        arrived = await digest_to(service, smtp_server, clock, range(50, 53), "رياضة")
        assert [r.message["List-Id"].split("<")[1] for r in arrived] == ["weekly.news.example.com>"]

        cross_site = await client.post(prefs, data={"action": "leave"}, headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403
        assert await status_of(service, "reader@example.org") == "confirmed"
        left = await client.post(prefs, data={"action": "leave"})
        assert left.status_code == 200 and "تم إلغاء اشتراكك" in left.text
        assert await status_of(service, "reader@example.org") == "unsubscribed"
        after = await client.get(prefs)
        assert after.status_code == 200 and "غير مشترك" in after.text
        assert (await client.post(prefs, data={"action": "save", "frequency": "daily"})).status_code == 409


async def test_new_address_takes_effect_only_when_confirmed_there(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await factories.subscriber(service, "old@example.org")
    [digest] = await digest_to(service, smtp_server, clock, range(1, 3))
    prefs = link(digest, "/p/")
    async with httpx.AsyncClient(base_url=live_app) as client:
        asked = await client.post(prefs, data={"action": "email", "new_email": "new@مثال.عراق"})
        assert asked.status_code == 200 and "أرسلنا رابطاً" in asked.text
        await service.sender.drain()
        confirmation = smtp_server.received[-1]
        assert to(confirmation) == "new@xn--mgbh0fb.xn--mgbtx2b"
        assert (await subscriber_row(service, "old@example.org")) is not None

        arrived = await digest_to(service, smtp_server, clock, range(10, 12))
        assert [to(r) for r in arrived] == ["old@example.org"]

        path = link(confirmation, "/c/")
        page = await client.get(path)
        assert "تأكيد العنوان" in page.text
        assert (await subscriber_row(service, "old@example.org")) is not None
        assert (await client.post(path)).status_code == 200
        assert (await client.post(path)).status_code == 400  # single use
    assert await subscriber_row(service, "old@example.org") is None
    moved = await subscriber_row(service, "new@مثال.عراق")
    assert moved is not None and moved.status == "confirmed"
    arrived = await digest_to(service, smtp_server, clock, range(20, 22))
    assert [to(r) for r in arrived] == ["new@xn--mgbh0fb.xn--mgbtx2b"]


async def test_new_address_already_subscribed_is_refused_at_confirmation(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await factories.subscriber(service, "one@example.org")
    [digest] = await digest_to(service, smtp_server, clock, range(1, 3))
    async with httpx.AsyncClient(base_url=live_app) as client:
        await client.post(link(digest, "/p/"), data={"action": "email", "new_email": "two@example.org"})
        await service.sender.drain()
        await factories.subscriber(service, "two@example.org")  # meanwhile two subscribed on their own
        reply = await client.post(link(smtp_server.received[-1], "/c/"))
    assert reply.status_code == 409 and "مشترك بالفعل" in reply.text
    assert (await subscriber_row(service, "one@example.org")).status == "confirmed"
