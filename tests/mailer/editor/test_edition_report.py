"""An edition's page counts what the edition caused, on SQLite and PostgreSQL: the bounces and
complaints reported for its messages (real DSN and ARF samples posted to /api/bounces), and the
unsubscribes of readers for whom it was the last edition before they left."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from mailer.core.models import Edition, OutboxMessage
from mailer.delivery.service import Service
from mailer.editor import editions
from subscribers import flows
from subscribers.models import Subscriber
from tests.conftest import API_TOKEN, Clock
from tests.mailer.events.bounce_samples import EXPECTED, SUBSCRIBERS, as_sent, sent_edition
from tests.mailer.web.test_editor_auth import sign_in
from tests.support import factories


async def test_bounces_complaints_and_unsubscribes_are_put_down_to_their_edition(
    service: Service, live_app: str, clock: Clock
) -> None:
    await sent_edition(service, clock.now)  # edition 1 went to subscribers 1..8 through rows 1..8
    await factories.editor(service)
    clock.advance(hours=1)
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "message/rfc822"}
    async with httpx.AsyncClient(base_url=live_app) as client:
        for name in EXPECTED:
            reply = await client.post("/api/bounces", content=await as_sent(service, name), headers=headers)
            assert reply.status_code == 200, reply.text
    bounces = sum(1 for kind, _, _ in EXPECTED.values() if kind in ("hard", "soft"))
    complaints = sum(1 for kind, _, _ in EXPECTED.values() if kind == "complaint")

    # a later edition reached subscriber 1 only; then 1 and 2 leave
    later = clock.advance(hours=2)
    async with service.db.transaction() as session:
        session.add(Edition(id=2, list_name="daily", period_key="2026-11-26T07:00", scheduled_at=later,
                            status="sent", created_at=later, started_at=later, finished_at=later))
        await session.flush()
        session.add(OutboxMessage(id=100, kind="digest", edition_id=2, subscriber_id=1, recipient=SUBSCRIBERS[0],
                                  priority=10, status="sent", attempts=1, history="[]", next_attempt_at=later,
                                  created_at=later, sent_at=later))
        before = {sid for sid, status in await session.execute(select(Subscriber.id, Subscriber.status))
                  if status == "unsubscribed"}
    clock.advance(hours=1)
    async with service.db.transaction() as session:
        for sid in (1, 2):  # 1 got edition 2 since; 2's last edition is 1
            sub = await session.get(Subscriber, sid)
            assert sub is not None
            if sub.status != "unsubscribed":
                await flows.unsubscribe(session, sid, clock.now)
    assert before == {6, 7}  # the two complaints unsubscribed their senders at once

    async with service.db.transaction() as session:
        one = await editions.report(session, 1)
        two = await editions.report(session, 2)
    assert (one.bounces, one.complaints) == (bounces, complaints) and (bounces, complaints) == (6, 2)
    assert one.unsubscribes == 3  # 6 and 7 (complaints), and 2; not 1, whose last edition was 2
    assert (two.bounces, two.complaints, two.unsubscribes) == (0, 0, 1)
    assert one.counts["sent"] == 8 and one.total == 8 and one.done_percent == 100

    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client)
        page = await client.get("/editor/editions/1")
    assert page.status_code == 200
    shown = dict(re.findall(r'data-caused="(\w+)"><span class="n">(\d+)</span>', page.text))
    assert shown == {"bounces": "6", "complaints": "2", "unsubscribes": "3"}
