"""Batches: statuses written one statement per batch with every compare-and-set kept, the next
batch claimed while one is sent (never sent before it is recorded), urgent rows first."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mailer.core.models import OutboxMessage
from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.delivery.outcomes import Outcome, Verdict
from mailer.delivery.service import Service
from mailer.delivery.transport import MemoryTransport
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

LEASE = timedelta(minutes=5)


async def _messages(
    service: Service, count: int, *, priority: int = outbox.DIGEST_PRIORITY, prefix: str = "r"
) -> list[int]:
    async with service.db.transaction() as session:
        return [
            await outbox.enqueue(session, outbox.message_row(kind="test", recipient=f"{prefix}{n}@example.org", payload=b"Subject: x\r\n\r\nx\r\n",
                message_id=f"<{prefix}{n}@news.example.com>", now=service.clock(), priority=priority,
            ))
            for n in range(count)
        ]


async def _rows(service: Service) -> dict[int, OutboxMessage]:
    async with service.db.transaction() as session:
        return {r.id: r for r in await session.scalars(select(OutboxMessage))}


async def test_a_batch_is_written_at_once_but_only_where_this_worker_still_holds_the_row(
    service: Service, clock: Clock
) -> None:
    ids = await _messages(service, 4)
    async with service.db.transaction() as session:
        claimed = await outbox.claim(session, "w1", clock.now, lease=LEASE, limit=10)
    # the second row's lease runs out (its worker looked dead); another worker takes it over
    async with service.db.transaction() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == ids[1]).values(lease_expires_at=clock.now - LEASE)
        )
        assert await outbox.recover_expired(session, clock.now) == outbox.Recovered(pending=1)
        (taken,) = await outbox.claim(session, "w2", clock.now, lease=LEASE, limit=1)
    assert taken.id == ids[1]
    outcomes = [Outcome(Verdict.SENT, 250, "ok"), Outcome(Verdict.SENT, 250, "ok"),
                Outcome(Verdict.RETRY, 451, "later"), Outcome(Verdict.FAILED, 550, "no such user")]
    async with service.db.transaction() as session:
        written = await outbox.record(session, "w1", [outbox.Result(c, o) for c, o in zip(claimed, outcomes, strict=True)],
                                      clock.now)
    assert [(r.row.id, status) for r, status in written] == [
        (ids[0], "sent"), (ids[2], "pending"), (ids[3], "failed")
    ]
    rows = await _rows(service)
    assert rows[ids[1]].status == "sending" and rows[ids[1]].lease_owner == "w2"  # untouched
    assert rows[ids[0]].sent_at == clock.now and rows[ids[0]].last_code == 250
    assert rows[ids[2]].next_attempt_at > clock.now and rows[ids[2]].last_code == 451
    assert rows[ids[3]].last_error == "no such user"
    assert all(rows[i].lease_owner is None for i in (ids[0], ids[2], ids[3]))
    assert [e["worker"] for e in json.loads(rows[ids[0]].history)] == ["w1"]

    async with service.db.transaction() as session:
        (mine,) = await outbox.record(session, "w2", [outbox.Result(taken, Outcome(Verdict.SENT, 250, "ok"))],
                                      clock.now)
    assert mine[1] == "sent"


async def test_released_rows_are_due_again_at_once_and_their_attempt_is_not_counted(
    service: Service, clock: Clock
) -> None:
    await _messages(service, 3)
    async with service.db.transaction() as session:
        claimed = await outbox.claim(session, "w1", clock.now, lease=LEASE, limit=2)
        await outbox.release(session, "other-worker", claimed)  # not its rows: nothing happens
    assert {r.status for r in (await _rows(service)).values()} == {"sending", "pending"}
    async with service.db.transaction() as session:
        await outbox.release(session, "w1", claimed)
    rows = await _rows(service)
    assert {(r.status, r.attempts, r.lease_owner) for r in rows.values()} == {("pending", 0, None)}
    async with service.db.transaction() as session:
        again = await outbox.claim(session, "w2", clock.now, lease=LEASE, limit=3)
    assert len(again) == 3 and {c.attempts for c in again} == {1}


async def test_urgent_mail_goes_first_within_its_batch(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock
) -> None:
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, smtp_pool_size=1)
    service = await Service(settings, clock=clock).start()
    try:
        await _messages(service, 5)
        (urgent,) = await _messages(service, 1, priority=outbox.URGENT_PRIORITY, prefix="urgent")  # enqueued last
        async with service.db.transaction() as session:
            claimed = await outbox.claim(session, "peek", clock.now, lease=LEASE, limit=10)
            await outbox.release(session, "peek", claimed)
        assert claimed[0].id == urgent
        assert await service.sender.drain() == {"sent": 6}
    finally:
        await service.close()
    assert smtp_server.received[0].rcpt_tos == ("urgent0@example.org",)


class _Watching(MemoryTransport):
    """Looks at the outbox each time it is handed a message."""

    service: Service

    def __init__(self, batch: int, fail_at: int | None = None) -> None:
        super().__init__()
        self.batch = batch
        self.fail_at = fail_at
        self.seen: list[tuple[str, int, int]] = []  # (recipient, rows sending, unrecorded earlier rows)
        self.calls = 0  # counted on entry: the sender has two sends in flight a connection

    async def send(self, sender: str, recipient: str, data: bytes, *, canonical: bool = False) -> Outcome:
        self.calls += 1
        if self.calls - 1 == self.fail_at:
            raise RuntimeError("a bug in the transport")
        async with self.service.db.transaction() as session:
            rows = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        position = next(n for n, r in enumerate(rows) if r.recipient == recipient)
        first_of_batch = position - position % self.batch
        earlier_open = sum(1 for r in rows[:first_of_batch] if r.status in outbox.OPEN)
        self.seen.append((recipient, sum(1 for r in rows if r.status == "sending"), earlier_open))
        return await super().send(sender, recipient, data, canonical=canonical)


async def test_the_next_batch_is_claimed_while_one_is_sent_and_sent_only_after_that_one_is_recorded(
    make_settings: Callable[..., Settings], database_url: str, clock: Clock
) -> None:
    batch = 3
    settings = make_settings(database_url=database_url, send_batch_size=batch, smtp_pool_size=1)
    transport = _Watching(batch)
    service = transport.service = await Service(settings, clock=clock, transport=transport).start()
    try:
        await factories.ingest_items(service, 2, clock.now)
        for n in range(3 * batch):
            await factories.subscriber(service, f"reader{n}@example.org")
        await service.run_list("daily", clock.now)
        assert await service.sender.drain() == {"sent": 3 * batch}
    finally:
        await service.close()
    assert len(transport.seen) == 3 * batch
    # what a crash can repeat is one batch: no row is sent while an earlier batch is unrecorded
    assert all(unrecorded == 0 for _, _, unrecorded in transport.seen)
    # ... while the next batch is already claimed (two batches leased) as the first one goes out
    assert max(sending for _, sending, _ in transport.seen[:batch]) == 2 * batch


async def test_when_sending_fails_what_was_answered_is_recorded_and_the_rest_given_back(
    make_settings: Callable[..., Settings], database_url: str, clock: Clock
) -> None:
    batch = 3
    settings = make_settings(database_url=database_url, send_batch_size=batch, smtp_pool_size=1)
    transport = _Watching(batch, fail_at=1)  # accepts the first message, then raises
    service = transport.service = await Service(settings, clock=clock, transport=transport).start()
    try:
        await _messages(service, 2 * batch)
        with pytest.raises(RuntimeError, match="a bug in the transport"):
            await service.sender.drain()
        rows = sorted((await _rows(service)).values(), key=lambda r: r.id)
    finally:
        await service.close()
    # the message the server accepted is recorded sent: it is never sent again
    assert (rows[0].status, rows[0].last_code) == ("sent", 250)
    # the one the transport failed on may have gone: unknown, one more try later (same Message-ID)
    assert rows[1].status == "pending" and rows[1].next_attempt_at > clock.now
    assert "error in the sender" in (rows[1].last_error or "")
    # never attempted, and the batch claimed ahead: back in line at once, the attempt not counted
    assert {(r.status, r.attempts, r.lease_owner) for r in rows[2:]} == {("pending", 0, None)}
    assert not any(r.status == "sending" for r in rows)


async def test_when_one_lane_fails_the_others_stop_sending(
    make_settings: Callable[..., Settings], database_url: str, clock: Clock
) -> None:
    settings = make_settings(database_url=database_url, send_batch_size=20, smtp_pool_size=4)
    transport = _Watching(20, fail_at=2)
    service = transport.service = await Service(settings, clock=clock, transport=transport).start()
    try:
        await _messages(service, 20)
        with pytest.raises(RuntimeError, match="a bug in the transport"):
            await service.sender.drain()
        handed_over = len(transport.seen)
        await asyncio.sleep(0.2)  # a lane left running would go on handing messages over
    finally:
        await service.close()
    assert handed_over == len(transport.seen) < 20
