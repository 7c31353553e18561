"""Unsubscribes, hard bounces and complaints suppress an address, and every send path checks the
list right before sending: digests, one-off mail and shares alike."""

from __future__ import annotations

from sqlalchemy import select

from mailer.core.models import OutboxMessage
from mailer.delivery import outbox
from mailer.delivery.notifier import Notifier
from mailer.delivery.service import Service
from subscribers import flows, suppression
from tests.conftest import Clock
from tests.subscribers.helpers import status_of, to
from tests.support import factories
from tests.support.smtpd import SMTPServer


async def enqueue_share(svc: Service, recipient: str) -> int:
    async with svc.db.transaction() as session:
        return await outbox.enqueue(session, outbox.message_row(kind="share", recipient=recipient, message_id=f"<share.{recipient}@x>",
            payload=f"To: {recipient}\r\nSubject: test\r\n\r\nhello\r\n".encode(), now=svc.clock(),
        ))


async def statuses(svc: Service) -> dict[str, tuple[str, str | None]]:
    async with svc.db.transaction() as session:
        rows = await session.execute(select(OutboxMessage.recipient, OutboxMessage.status,
                                            OutboxMessage.last_error, OutboxMessage.kind))
        return {f"{kind}:{r}": (s, e) for r, s, e, kind in rows}


async def test_every_reason_blocks_digests_and_shares(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    await factories.ingest_items(service, 2, clock.now)
    for name in ("left", "bounced", "complained", "fine"):
        await factories.subscriber(service, f"{name}@example.org")
    await factories.subscriber(service, "idn@مثال.عراق")
    # the digest is enqueued first; what happens after must still stop it
    await service.run_list("daily", clock.now)
    async with service.db.transaction() as session:
        left = await flows.by_any_form(session, "left@example.org")
        await flows.unsubscribe(session, left.id, clock.now)
        await flows.disable(session, "bounced@example.org", clock.now)
        await flows.complaint(session, "COMPLAINED@example.org", clock.now)
        # a bounce reports the IDNA form; the subscriber was stored in Unicode
        await flows.disable(session, "idn@xn--mgbh0fb.xn--mgbtx2b", clock.now)
    for address in ("left@example.org", "Bounced@Example.org", "complained@example.org",
                    "idn@xn--mgbh0fb.xn--mgbtx2b", "idn@مثال.عراق", "fine@example.org"):
        await enqueue_share(service, address)
    await service.sender.drain()

    assert sorted(to(r) for r in smtp_server.received) == ["fine@example.org", "fine@example.org"]
    outcome = await statuses(service)
    for key, (status, error) in outcome.items():
        if "fine@" not in key:
            assert (status, error) == ("skipped", "suppressed"), key
    assert await status_of(service, "left@example.org") == "unsubscribed"
    assert await status_of(service, "bounced@example.org") == "bounced"
    assert await status_of(service, "complained@example.org") == "unsubscribed"
    assert await status_of(service, "idn@مثال.عراق") == "bounced"
    async with service.db.transaction() as session:
        assert await suppression.reasons(session, ["left@example.org", "bounced@example.org",
                                                   "complained@example.org", "fine@example.org"]) == {
            "left@example.org": "unsubscribe", "bounced@example.org": "hard_bounce",
            "complained@example.org": "complaint"}


async def test_one_off_mail_checks_status_right_before_sending(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    """A welcome queued before the subscriber left is not sent after it."""
    sub = await factories.subscriber(service, "quick@example.org")
    notifier = Notifier(service.settings, service.renderer)
    async with service.db.transaction() as session:
        await notifier(session, [flows.Notice("welcome", sub.id, sub.email, None, "daily", clock.now)])
        await flows.unsubscribe(session, sub.id, clock.now)
    await service.sender.drain()
    assert smtp_server.received == []
    [(status, error)] = (await statuses(service)).values()
    assert status == "skipped" and error == "suppressed"


async def test_stronger_reasons_replace_weaker_ones(service: Service) -> None:
    async with service.db.transaction() as session:
        await suppression.suppress(session, "x@example.org", "unsubscribe")
        await suppression.suppress(session, "X@example.org", "complaint")
        await suppression.suppress(session, "x@example.org", "hard_bounce")
        assert await suppression.reason_for(session, "x@example.org") == "complaint"
        await suppression.suppress(session, "x@example.org", "forget")
        assert await suppression.reason_for(session, "x@example.org") == "forget"


def test_only_a_confirmation_passes_an_unsubscribe() -> None:
    assert not suppression.blocks("unsubscribe", "confirm")
    for kind in ("digest", "share", "welcome", "confirm_address", "test"):
        assert suppression.blocks("unsubscribe", kind)
    for reason in ("hard_bounce", "complaint", "forget"):
        for kind in ("confirm", "digest", "share"):
            assert suppression.blocks(reason, kind)


def test_hash_is_the_same_for_every_form_of_an_address() -> None:
    same = ["user@مثال.عراق", "user@xn--mgbh0fb.xn--mgbtx2b", " User@مثال.عراق ", "USER@XN--MGBH0FB.XN--MGBTX2B"]
    assert len({suppression.address_hash(a) for a in same}) == 1
    assert suppression.address_hash("a@example.org") != suppression.address_hash("b@example.org")
