"""Reports mailed to the public bounce address act only with proof that they answer our mail: a
valid VERP token or a Message-ID we signed. Anything else is recorded as unattributed and
changes no subscriber (issue 13, points 1 and 3; the Message-ID format of issue 12, point 9)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import select

from mailer.core.models import BounceEvent
from mailer.core.settings import Settings
from mailer.delivery.service import Service
from subscribers import suppression
from subscribers.models import Subscriber
from tests.conftest import API_TOKEN, Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

HEADERS = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "message/rfc822"}


def arf(*, rcpt: str, message_id: str = "<anything@elsewhere.example>", return_path: str = "") -> bytes:
    """An ARF abuse report as a mailbox provider sends it, quoting the headers of the original."""
    original = (f"Return-Path: <{return_path}>\r\n" if return_path else "") + (
        f"From: newsletter@news.example.com\r\nTo: {rcpt}\r\nSubject: x\r\nMessage-ID: {message_id}\r\n"
    )
    return (
        "From: fbl@provider.example\r\nTo: bounces@news.example.com\r\nSubject: complaint\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nabuse report\r\n"
        "--b\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: forger/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: {rcpt}\r\n"
        "\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{original}\r\n--b--\r\n"
    ).encode()


def dsn(*, rcpt: str, message_id: str) -> bytes:
    """A hard-bounce DSN naming ``rcpt`` and quoting ``message_id``, with no VERP token."""
    return (
        "From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@news.example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="d"\r\n\r\n'
        "--d\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n"
        "--d\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "\r\n--d\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: newsletter@news.example.com\r\nTo: {rcpt}\r\nMessage-ID: {message_id}\r\n\r\n--d--\r\n"
    ).encode()


async def _post(live_app: str, raw: bytes) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=live_app) as client:
        reply = await client.post("/api/bounces", content=raw, headers=HEADERS)
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


async def test_a_complaint_naming_only_an_address_changes_nobody(
    service: Service, live_app: str, clock: Clock
) -> None:
    victim = await factories.subscriber(service, "victim@example.org")
    for rcpt in ("victim@example.org", "never.subscribed@example.org"):
        body = await _post(live_app, arf(rcpt=rcpt))
        assert (body["action"], body["subscriber_id"]) == ("unattributed", None)
    async with service.db.transaction() as session:
        sub = await session.get(Subscriber, victim.id)
        assert sub is not None and sub.status == "confirmed"
        assert not await suppression.suppressed(session, ["victim@example.org", "never.subscribed@example.org"])
        events = list(await session.scalars(select(BounceEvent).order_by(BounceEvent.id)))
    # recorded for a person to look at, attached to nobody and counted for nobody
    assert [(e.kind, e.subscriber_id, e.counted) for e in events] == [("complaint", None, False)] * 2
    # the address that never subscribed can still subscribe
    async with httpx.AsyncClient(base_url=live_app) as client:
        reply = await client.post("/subscribe", data={"email": "never.subscribed@example.org"})
    assert reply.status_code == 200
    await service.sender.drain()


async def test_a_guessed_message_id_counts_no_bounce(
    service: Service, live_app: str, clock: Clock, smtp_server: SMTPServer
) -> None:
    await factories.ingest_items(service, 2, clock.now)
    sub = await factories.subscriber(service, "reader@example.org")
    plan = await service.run_list("daily", clock.now)
    await service.sender.drain()
    assert smtp_server.received
    # the format of digest Message-IDs before they were signed, and near misses of the real one
    real = str(smtp_server.received[0].message["Message-ID"])
    local = real.strip("<>").split("@")[0]
    guesses = [f"<e{plan.edition.id}.s{sub.id}@news.example.com>", real.replace("@", "x@"),
               real.replace(local, local[:-4] + "AAAA"), real.replace(local, local.replace(".s", ".s1"))]
    for guess in guesses:
        body = await _post(live_app, dsn(rcpt="reader@example.org", message_id=guess))
        assert (body["action"], body["subscriber_id"]) == ("unattributed", None), guess
    async with service.db.transaction() as session:
        fresh = await session.get(Subscriber, sub.id)
    assert fresh is not None and fresh.bounce_score == 0 and fresh.status == "confirmed"


async def test_the_signed_message_id_of_our_mail_attributes_a_complaint(
    service: Service, live_app: str, clock: Clock, smtp_server: SMTPServer
) -> None:
    """Outlook's reports carry no VERP token and a redacted address: the Message-ID is the proof."""
    await factories.ingest_items(service, 2, clock.now)
    sub = await factories.subscriber(service, "reader@example.org")
    await service.run_list("daily", clock.now)
    await service.sender.drain()
    message_id = str(smtp_server.received[0].message["Message-ID"])
    body = await _post(live_app, arf(rcpt="redacted@outlook.com", message_id=message_id))
    assert (body["action"], body["subscriber_id"]) == ("suppressed", sub.id)
    async with service.db.transaction() as session:
        fresh = await session.get(Subscriber, sub.id)
        assert await suppression.is_suppressed(session, "reader@example.org")
    assert fresh is not None and fresh.status == "unsubscribed"


async def _digest_message_ids(svc: Service, clock: Clock, smtp: SMTPServer) -> list[str]:
    await factories.ingest_items(svc, 2, clock.now)
    await factories.subscriber(svc, "reader@example.org")
    await svc.run_list("daily", clock.now)
    await svc.sender.drain()
    clock.advance(hours=1)
    await svc.sender.drain()
    return [str(r.message["Message-ID"]) for r in smtp.received]


async def test_message_ids_are_stable_across_retries_and_unique_per_installation(
    service: Service, clock: Clock, smtp_server: SMTPServer, make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    smtp_server.fail("data", "drop")  # received, but never acknowledged: tried once more later
    ids = await _digest_message_ids(service, clock, smtp_server)
    assert len(ids) == 2 and ids[0] == ids[1]
    local = ids[0].strip("<>").split("@")[0]
    assert len(local) > len("e1.s1") + 15  # more than the edition and subscriber ids
    # a second installation with the same key (a staging copy of the settings, say): same
    # edition and subscriber ids, another Message-ID, which the first one does not accept
    with SMTPServer() as other_smtp:
        other_settings = make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'other.db'}",
                                       smtp_url=other_smtp.url)
        other = await Service(other_settings, clock=clock).start()
        try:
            other_ids = await _digest_message_ids(other, clock, other_smtp)
        finally:
            await other.close()
    assert other_ids and other_ids[0].split(".")[:2] == ids[0].split(".")[:2]
    assert other_ids[0] != ids[0]
