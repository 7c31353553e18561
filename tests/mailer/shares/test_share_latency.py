"""A share goes out while a 5,000-message digest is draining, and arrives before the digest ends.

The figures (share latency, digest duration, where the share landed in the stream) are printed;
run with ``-s`` to see them. Only the order is asserted, never a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.mailer.shares.conftest import Harness
from tests.support import factories

ShareApp = Callable[..., Awaitable[Harness]]
DIGEST_SIZE = 5000
FRIEND = "friend@example.org"


async def _subscribers(h: Harness, count: int) -> None:
    now = h.clock.now
    rows = [
        {"email": f"reader{n}@example.net", "email_ascii": f"reader{n}@example.net", "status": "confirmed",
         "created_at": now, "updated_at": now, "confirmed_at": now,
         "bounce_score": 0, "no_shares": False}
        for n in range(count)
    ]
    async with h.svc.db.transaction() as session:
        await factories.bulk_subscribers(session, rows)


async def _arrival(h: Harness, start: int) -> tuple[float, int]:
    """When the friend's message arrived (monotonic) and its position in everything received."""
    while True:
        received = h.smtp.received
        for index in range(start, len(received)):
            if received[index].rcpt_tos == (FRIEND,):
                return time.monotonic(), index
        start = max(start, len(received) - 1)
        await asyncio.sleep(0.002)


@pytest.mark.slow
async def test_share_overtakes_a_draining_5000_message_digest(share_app: ShareApp, database_url: str) -> None:
    h = await share_app()
    await factories.ingest_items(h.svc, 3, h.clock.now)
    article_id = await h.article()
    await _subscribers(h, DIGEST_SIZE)
    plan = await h.svc.run_list("daily", h.clock.now)
    assert plan.enqueued == DIGEST_SIZE

    stop = asyncio.Event()
    digest_started = time.monotonic()
    sender = asyncio.create_task(h.svc.sender_loop(stop))
    try:
        while len(h.smtp.received) < 500:  # the digest is well under way
            await asyncio.sleep(0.01)
        before = len(h.smtp.received)
        token = await h.token(article_id)
        h.clock.advance(seconds=5)
        asked = time.monotonic()
        reply = await h.client.post("/share", data=h.fields(article_id, token, friend_email=FRIEND))
        answered = time.monotonic()
        assert reply.status_code == 202, reply.text
        arrived, position = await asyncio.wait_for(_arrival(h, before), timeout=120)
        while len(h.smtp.received) < DIGEST_SIZE + 1:
            await asyncio.sleep(0.05)
        digest_done = time.monotonic()
    finally:
        stop.set()
        h.svc.wake.set()
        await sender
    received = h.smtp.received
    assert len(received) == DIGEST_SIZE + 1
    after = len(received) - 1 - position
    assert after > 0, "the share arrived only after the whole digest"
    print(
        f"\n[{database_url.split('+')[0]}] share latency {arrived - asked:.3f} s (HTTP answer {answered - asked:.3f} s); "
        f"sent when {before} of {DIGEST_SIZE} digest messages had arrived, arrived as message {position + 1}; "
        f"{after} digest messages came after it; digest took {digest_done - digest_started:.1f} s "
        f"(batch size {h.svc.settings.send_batch_size})"
    )
