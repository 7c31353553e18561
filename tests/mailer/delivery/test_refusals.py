"""Replies that refuse the message or the sender, not the mailbox: nobody is bounced for them,
and a run of them pauses the edition until an operator resumes it (the circuit breaker)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from mailer.core.models import BounceEvent, Edition, OutboxMessage
from mailer.core.settings import Settings
from mailer.delivery.outcomes import REFUSALS_TO_PAUSE
from mailer.delivery.sender import LANES_A_CONNECTION
from mailer.delivery.service import Service
from subscribers.models import Subscriber
from tests.conftest import API_TOKEN, Clock
from tests.mailer.events.bounce_samples import sample, sent_edition
from tests.support import factories
from tests.support.cli import cli_env, mailer  # noqa: F401  (cli_env: the real command, pointed at this test)
from tests.support.smtpd import SMTPServer

SPAM = "550 5.7.1 Message rejected: our content filter thinks it is spam"


async def _edition(service: Service, clock: Clock, count: int) -> int:
    await factories.ingest_items(service, 2, clock.now)
    for n in range(count):
        await factories.subscriber(service, f"reader{n:02d}@example.org")
    result = await service.run_list("daily", clock.now)
    assert result.action == "sending" and result.edition is not None
    return result.edition.id


async def _state(service: Service, edition_id: int) -> tuple[Edition, dict[str, int], int, list[int]]:
    async with service.db.transaction() as session:
        edition = await session.get(Edition, edition_id, populate_existing=True)
        assert edition is not None
        rows = dict((await session.execute(
            select(OutboxMessage.status, func.count()).where(OutboxMessage.edition_id == edition_id)
            .group_by(OutboxMessage.status))).all())
        events = await session.scalar(select(func.count()).select_from(BounceEvent))
        scores = list(await session.scalars(select(Subscriber.bounce_score)))
    return edition, rows, int(events or 0), scores


async def test_a_refusal_at_data_bounces_nobody_and_pauses_the_edition_until_resumed(
    service: Service, smtp_server: SMTPServer, clock: Clock, cli_env: CliRunner  # noqa: F811
) -> None:
    edition_id = await _edition(service, clock, 40)
    smtp_server.fail("data", *[SPAM] * 40)  # the relay's content filter refuses every copy

    totals = await service.sender.drain()
    edition, rows, events, scores = await _state(service, edition_id)
    # a few in a row, then no more tries (the other lanes finish the message they are on)
    in_flight = LANES_A_CONNECTION * service.settings.smtp_pool_size
    assert in_flight < 40 - REFUSALS_TO_PAUSE
    assert REFUSALS_TO_PAUSE <= totals["refused"] < REFUSALS_TO_PAUSE + in_flight
    assert set(totals) == {"refused"} and smtp_server.received == []
    assert edition.status == "paused" and "5.7.1" in (edition.status_reason or "")
    assert rows == {"pending": 40}  # the refused ones get another try after the resume
    assert events == 0 and set(scores) == {0}  # the mailboxes are not to blame
    clock.advance(hours=1)
    assert await service.sender.drain() == {}  # paused: nothing is claimed

    listed = await mailer(cli_env, "editions")
    assert listed[0] == 0 and "paused" in listed[1] and "5.7.1" in listed[1]
    with smtp_server.handler.lock:
        smtp_server.handler.script.data.clear()  # the operator fixed the cause
    code, out, _ = await mailer(cli_env, "editions", "resume", str(edition_id))
    assert code == 0 and f"edition {edition_id} is sending again: 40 messages are due now" in out
    again = await mailer(cli_env, "editions", "resume", str(edition_id))
    assert again[0] == 1 and "not paused" in again[2]

    assert await service.sender.drain() == {"sent": 40}
    edition, rows, events, _ = await _state(service, edition_id)
    assert edition.status == "sent" and rows == {"sent": 40} and events == 0
    assert len({r.rcpt_tos[0] for r in smtp_server.received}) == 40


async def test_refusals_with_accepted_messages_between_them_do_not_pause(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock
) -> None:
    # one connection: the server's scripted replies meet the messages in the batch's order (over
    # several, a loaded machine let five refusals in a row reach it, and the edition paused)
    service = await Service(make_settings(database_url=database_url, smtp_url=smtp_server.url, smtp_pool_size=1),
                            clock=clock).start()
    try:
        await _refused_now_and_then(service, smtp_server, clock)
    finally:
        await service.close()


async def _refused_now_and_then(service: Service, smtp_server: SMTPServer, clock: Clock) -> None:
    edition_id = await _edition(service, clock, 12)
    # one recipient's filter refuses now and then; the rest is accepted: nothing systematic
    smtp_server.fail("data", *([SPAM, SPAM, SPAM, "ok"] * 3))
    totals = await service.sender.drain()
    assert totals == {"refused": 9, "sent": 3}
    edition, rows, events, _ = await _state(service, edition_id)
    assert edition.status == "sending" and edition.refused_in_row < REFUSALS_TO_PAUSE
    assert rows == {"pending": 9, "sent": 3} and events == 0
    clock.advance(minutes=3)
    assert await service.sender.drain() == {"sent": 9}  # the one more try


async def test_a_dsn_that_refuses_the_message_counts_nothing_against_the_subscriber(
    service: Service, live_app: str, clock: Clock
) -> None:
    await sent_edition(service, clock.now)
    raw = sample("postfix-hard.eml").replace(b"5.1.1", b"5.7.1").replace(
        b"Recipient address\n    rejected: User unknown in virtual mailbox table",
        b"Message rejected\n    as spam by the content filter",
    )
    async with httpx.AsyncClient(base_url=live_app) as client:
        reply = await client.post("/api/bounces", content=raw, headers={
            "Authorization": f"Bearer {API_TOKEN}", "Content-Type": "message/rfc822"})
    assert reply.status_code == 200 and reply.json()["action"] == "refused"
    async with service.db.transaction() as session:
        (event,) = await session.scalars(select(BounceEvent))
        sub = await session.get(Subscriber, 1)
    assert (event.kind, event.counted, event.subscriber_id) == ("refused", False, 1)
    assert sub is not None and (sub.status, sub.bounce_score) == ("confirmed", 0)


@pytest.mark.parametrize("reply", [
    "550 5.7.1 [203.0.113.10] Our system has detected that this message is likely unsolicited mail",  # Gmail
    "550 5.7.26 This mail has been blocked because the sender is unauthenticated",  # Gmail
    "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP",  # Microsoft
    "554 5.7.9 Message not accepted for policy reasons",  # Yahoo
    "552 5.3.4 Message size exceeds fixed maximum message size",
    "554 Message refused: listed on a block list",  # no enhanced code: the wording
])
async def test_provider_refusals_at_rcpt_are_not_bounces(
    service: Service, smtp_server: SMTPServer, clock: Clock, reply: str
) -> None:
    await _edition(service, clock, 1)
    smtp_server.fail("rcpt", reply)
    assert await service.sender.drain() == {"refused": 1}
    _, rows, events, scores = await _state(service, (await service.unfinished("daily"))[0].id)
    assert rows == {"pending": 1} and events == 0 and scores == [0]
