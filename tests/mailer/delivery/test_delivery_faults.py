"""The sender against a real SMTP server that answers with chosen faults."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from mailer.core.models import BounceEvent, Edition, OutboxMessage
from mailer.core.signing import Keyring
from mailer.delivery import outbox, verp
from mailer.delivery.service import Service
from subscribers import suppression
from subscribers.models import Subscriber
from tests.conftest import SECRET, Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer


async def _edition(service: Service, clock: Clock, *addresses: str) -> int:
    await factories.ingest_items(service, 2, clock.now)
    for address in addresses:
        await factories.subscriber(service, address)
    result = await service.run_list("daily", clock.now)
    assert result.action == "sending" and result.enqueued == len(addresses)
    return result.edition.id


async def _rows(service: Service) -> list[OutboxMessage]:
    async with service.db.transaction() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.mark.parametrize("phase", ["mail", "rcpt"])
@pytest.mark.parametrize("code", [421, 451])
async def test_temporary_failure_is_retried_then_sent(
    service: Service, smtp_server: SMTPServer, clock: Clock, phase: str, code: int
) -> None:
    await _edition(service, clock, "reader@example.org")
    smtp_server.fail(phase, code)

    assert await service.sender.drain() == {"retry": 1}
    (row,) = await _rows(service)
    assert row.status == "pending" and row.last_code == code
    assert row.next_attempt_at > clock.now  # backoff: not due yet
    assert await service.sender.drain() == {}  # nothing due: the row waits
    assert smtp_server.received == []

    clock.advance(minutes=3)  # the first retry comes within minutes
    assert await service.sender.drain() == {"sent": 1}
    (row,) = await _rows(service)
    assert row.status == "sent" and row.attempts == 2
    assert [r.rcpt_tos for r in smtp_server.received] == [("reader@example.org",)]
    assert [entry["code"] for entry in json.loads(row.history)] == [code, 250]


async def test_a_mailbox_that_does_not_exist_is_suppressed_at_the_first_bounce(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    edition_id = await _edition(service, clock, "gone@example.org", "fine@example.org")
    smtp_server.reject("gone@example.org")  # 550 5.1.1 ... User unknown

    assert await service.sender.drain() == {"failed": 1, "sent": 1}
    rows = {r.recipient: r for r in await _rows(service)}
    assert rows["gone@example.org"].status == "failed" and rows["gone@example.org"].last_code == 550
    assert rows["fine@example.org"].status == "sent"
    async with service.db.transaction() as session:
        (event,) = await session.scalars(select(BounceEvent))
        sub = (await session.scalars(select(Subscriber).where(Subscriber.email == "gone@example.org"))).one()
        edition = await session.get(Edition, edition_id)
        blocked = await suppression.suppressed(session, ["gone@example.org", "fine@example.org"])
    assert (event.kind, event.source, event.subscriber_id, event.counted) == ("hard", "smtp", sub.id, True)
    assert "550" in event.detail and "5.1.1" in event.detail
    assert sub.status == "bounced" and blocked == {"gone@example.org"}  # at once, not in three days
    assert edition.status == "sent"  # nothing pending or sending is left
    clock.advance(days=1)
    assert await service.sender.drain() == {}  # a failed row is never retried


@pytest.mark.parametrize("reply", [
    "550 5.2.1 The email account that you tried to reach is disabled",  # Gmail
    "554 delivery error: dd Sorry, your message cannot be delivered. This account is over quota",  # Yahoo
    "550 Requested action not taken: mailbox unavailable",  # says nothing definite
])
async def test_other_permanent_failures_keep_the_score(
    service: Service, smtp_server: SMTPServer, clock: Clock, reply: str
) -> None:
    await _edition(service, clock, "fading@example.org")
    smtp_server.fail("rcpt", reply)
    assert await service.sender.drain() == {"failed": 1}
    async with service.db.transaction() as session:
        (event,) = await session.scalars(select(BounceEvent))
        sub = (await session.scalars(select(Subscriber))).one()
        assert not await suppression.is_suppressed(session, "fading@example.org")
    assert (event.kind, event.counted) == ("hard", True)
    assert sub.bounce_score == 2 and sub.status == "confirmed"  # one bounce does not disable


async def test_a_refused_mail_from_blames_the_sender_not_the_recipient(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    await _edition(service, clock, "reader@example.org")
    smtp_server.fail("mail", 550, 550)
    assert await service.sender.drain() == {"refused": 1}
    (row,) = await _rows(service)
    assert row.status == "pending" and row.next_attempt_at > clock.now  # one more try, later
    clock.advance(minutes=3)
    assert await service.sender.drain() == {"refused": 1}
    (row,) = await _rows(service)
    assert row.status == "failed" and row.last_code == 550
    assert smtp_server.received == []
    async with service.db.transaction() as session:
        sub = (await session.scalars(select(Subscriber))).one()
        assert await session.scalar(select(func.count()).select_from(BounceEvent)) == 0
    assert (sub.status, sub.bounce_score) == ("confirmed", 0)


async def test_no_reply_after_data_is_unknown_and_retried_once_with_the_same_message_id(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    await _edition(service, clock, "reader@example.org")
    smtp_server.fail("data", "drop")

    assert await service.sender.drain() == {"unknown": 1}
    (row,) = await _rows(service)
    assert row.status == "pending"  # maybe delivered: one more try, no more
    clock.advance(minutes=3)
    assert await service.sender.drain() == {"sent": 1}
    received = smtp_server.received
    assert len(received) == 2  # the server had the first copy all along
    assert received[0].message["Message-ID"] == received[1].message["Message-ID"]


async def test_a_second_unknown_is_final(service: Service, smtp_server: SMTPServer, clock: Clock) -> None:
    edition_id = await _edition(service, clock, "reader@example.org")
    smtp_server.fail("data", "drop", "drop")

    await service.sender.drain()
    clock.advance(minutes=3)
    assert await service.sender.drain() == {"unknown": 1}
    (row,) = await _rows(service)
    assert row.status == "unknown" and row.attempts == 2
    clock.advance(days=1)
    assert await service.sender.drain() == {}
    assert len(smtp_server.received) == 2  # at most one retry
    async with service.db.transaction() as session:
        assert (await session.get(Edition, edition_id)).status == "sent"


async def test_a_server_that_goes_away_and_comes_back_gets_everything(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    addresses = [f"reader{n}@example.org" for n in range(12)]
    await _edition(service, clock, *addresses)
    smtp_server.stop()
    assert await service.sender.drain() == {"retry": 12}
    assert {r.status for r in await _rows(service)} == {"pending"}

    smtp_server.start()  # back, on the same port
    clock.advance(minutes=3)
    assert await service.sender.drain() == {"sent": 12}
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == sorted(addresses)


async def test_pooled_connections_survive_a_server_restart_without_a_retry_delay(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    await _edition(service, clock, *(f"first{n}@example.org" for n in range(6)))
    assert await service.sender.drain() == {"sent": 6}
    assert smtp_server.handler.connections <= service.settings.smtp_pool_size  # reused, not one each
    smtp_server.stop()  # every pooled connection is now dead
    smtp_server.start()
    async with service.db.transaction() as session:
        for n in range(4):
            await outbox.enqueue(session, outbox.message_row(kind="test", recipient=f"second{n}@example.org", message_id=f"t{n}",
                payload=b"Subject: test\r\n\r\nhello\r\n", now=clock.now,
            ))
    assert await service.sender.drain() == {"sent": 4}  # reconnected at once, no retry delay
    assert len(smtp_server.received) == 10


async def test_retries_give_up_after_the_lifetime(service: Service, smtp_server: SMTPServer, clock: Clock) -> None:
    await _edition(service, clock, "reader@example.org")
    smtp_server.fail("rcpt", *([451] * 100))
    for _ in range(40):
        await service.sender.drain()
        clock.advance(hours=4)
    (row,) = await _rows(service)
    assert row.status == "failed" and "gave up" in (row.last_error or "")
    assert row.created_at + service.sender.lifetime <= clock.now
    assert smtp_server.received == []


async def test_the_envelope_sender_is_a_signed_verp_address_naming_the_row(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    await _edition(service, clock, "reader@example.org")
    await service.sender.drain()
    (row,) = await _rows(service)
    (received,) = smtp_server.received
    keyring = Keyring.of(SECRET)
    assert received.mail_from == verp.address(keyring, "bounces@news.example.com", row.id)
    assert verp.find(keyring, received.mail_from) == row.id
    assert verp.find(keyring, received.mail_from.upper()) == row.id  # a relay changed the case
    forged = received.mail_from.replace(f"+{row.id}-", f"+{row.id + 1}-")
    assert verp.find(keyring, forged) is None


async def test_edition_is_not_finished_while_a_row_is_leased(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    edition_id = await _edition(service, clock, "a@example.org", "b@example.org")
    async with service.db.transaction() as session:
        (held,) = await outbox.claim(session, "other-worker", clock.now, lease=service.sender.lease, limit=1)
    assert await service.sender.drain() == {"sent": 1}
    async with service.db.transaction() as session:
        assert (await session.get(Edition, edition_id)).status == "sending"
    clock.advance(seconds=service.settings.lease_seconds + 1)
    recovered = await service.sender.recover()
    assert recovered == outbox.Recovered(pending=1, dead=0)
    assert await service.sender.drain() == {"sent": 1}
    async with service.db.transaction() as session:
        assert (await session.get(Edition, edition_id)).status == "sent"
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["a@example.org", "b@example.org"]
    assert held.recipient == "a@example.org"


async def test_a_row_whose_lease_expires_three_times_is_dead_lettered(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    edition_id = await _edition(service, clock, "poison@example.org")
    for n in range(1, 4):
        async with service.db.transaction() as session:
            assert len(await outbox.claim(session, f"crashing-{n}", clock.now, lease=service.sender.lease, limit=5)) == 1
        clock.advance(seconds=service.settings.lease_seconds + 1)
        expected = outbox.Recovered(dead=1) if n == 3 else outbox.Recovered(pending=1)
        assert await service.sender.recover() == expected
    (row,) = await _rows(service)
    assert row.status == "dead" and row.recoveries == 3
    history = json.loads(row.history)
    assert [e["worker"] for e in history] == ["crashing-1", "crashing-2", "crashing-3"]
    assert all("lease_expired" in e for e in history)
    async with service.db.transaction() as session:
        assert (await session.get(Edition, edition_id)).status == "sent"  # dead is final
    assert smtp_server.received == []


async def test_a_worker_whose_lease_was_taken_over_cannot_overwrite_the_row(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    await _edition(service, clock, "reader@example.org")
    lease = service.sender.lease
    async with service.db.transaction() as session:
        (stale,) = await outbox.claim(session, "slow-worker", clock.now, lease=lease, limit=1)
    clock.advance(seconds=service.settings.lease_seconds + 1)
    await service.sender.recover()
    async with service.db.transaction() as session:
        (fresh,) = await outbox.claim(session, "slow-worker", clock.now, lease=lease, limit=1)
    from mailer.delivery.outcomes import Outcome, Verdict

    async with service.db.transaction() as session:
        late = await outbox.record(session, "slow-worker", [outbox.Result(stale, Outcome(Verdict.FAILED, 550))], clock.now)
        current = await outbox.record(session, "slow-worker", [outbox.Result(fresh, Outcome(Verdict.SENT, 250))], clock.now)
    assert late == [] and len(current) == 1  # same owner, but not the same claim
    (row,) = await _rows(service)
    assert row.status == "sent"
