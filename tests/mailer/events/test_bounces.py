"""Bounce and complaint reports from several MTAs and mailbox providers, and Mailman-style scoring."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from mailer.core.models import BounceEvent
from mailer.core.signing import Keyring
from mailer.delivery import verp
from mailer.delivery.service import Service
from mailer.events import reports
from subscribers import bounces as scoring
from subscribers import suppression
from subscribers.models import Subscriber, Suppression
from tests.conftest import API_TOKEN, SECRET, Clock
from tests.mailer.events.bounce_samples import ACTIONS, EXPECTED, SUBSCRIBERS, as_sent, sample, sent_edition
from tests.support import factories
from tests.support.smtpd import SMTPServer


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_is_read_as_its_kind(name: str) -> None:
    kind, subscriber_id, how = EXPECTED[name]
    report = reports.parse(sample(name), Keyring.of(SECRET))
    assert report.kind == kind
    if how == "verp":
        assert report.row_id == subscriber_id
    if how == "message-id":
        assert report.row_id is None and report.message_id == f"<e1.s{subscriber_id}@news.example.com>"
    if kind is not None:
        assert report.addresses == {SUBSCRIBERS[subscriber_id - 1]}  # type: ignore[operator]


def test_a_token_signed_with_another_secret_is_not_believed() -> None:
    report = reports.parse(sample("postfix-hard.eml"), Keyring.of("another-secret-" + "y" * 40))
    assert report.kind == "hard" and report.row_id is None


def test_verp_tokens_old_and_new_survive_a_key_rotation() -> None:
    """The samples carry tokens from before key ids (``+1-<16 hex>``); a token of today carries
    the key id too, and both are believed while their key is in the ring, upper-cased or not."""
    old_token = "bounces+1-c429435d02ade887@"
    raw = sample("postfix-hard.eml")
    assert old_token.encode() in raw
    new_token = verp.address(Keyring.of(SECRET), "bounces@news.example.com", 1).split("@")[0] + "@"
    assert len(new_token) == len(old_token) + 6
    rotated = Keyring.of("new-secret-" + "n" * 40, [SECRET])
    for token in (old_token, new_token, new_token.upper(), old_token.upper()):
        shifted = raw.replace(old_token.encode(), token.encode())
        assert reports.parse(shifted, rotated).row_id == 1, token
        assert reports.parse(shifted, Keyring.of("new-secret-" + "n" * 40)).row_id is None, token


async def test_posting_each_sample_acts_on_the_right_subscriber(
    service: Service, live_app: str, clock: Clock
) -> None:
    await sent_edition(service, clock.now)
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "message/rfc822"}
    async with httpx.AsyncClient(base_url=live_app) as client:
        for name, (kind, subscriber_id, _) in EXPECTED.items():
            reply = await client.post("/api/bounces", content=await as_sent(service, name), headers=headers)
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["kind"] == kind, name
            assert body["subscriber_id"] == subscriber_id, name
            assert body["action"] == ACTIONS[name], name
        refused = await client.post("/api/bounces", content=b"", headers=headers)
        unauthorised = await client.post("/api/bounces", content=sample("postfix-hard.eml"))
    assert refused.status_code == 400 and refused.json()["field"] == "body"
    assert unauthorised.status_code == 401
    async with service.db.transaction() as session:
        subs = {s.id: s for s in await session.scalars(select(Subscriber))}
        blocked = await suppression.suppressed(session, SUBSCRIBERS)
        reasons = dict((await session.execute(select(Suppression.address_hash, Suppression.reason))).all())
    assert [subs[i].bounce_score for i in (1, 2, 3, 4, 5, 8)] == [2, 1, 2, 2, 2, 2]
    assert {i for i, s in subs.items() if s.status == "unsubscribed"} == {6, 7}
    # a mailbox that does not exist (5.1.1, 5.1.10): disabled at the first bounce
    assert {i for i, s in subs.items() if s.status == "bounced"} == {1, 4, 5, 8}
    assert blocked == {SUBSCRIBERS[i - 1] for i in (1, 4, 5, 6, 7, 8)}
    assert reasons[suppression.address_hash("qarie@yahoo.com")] == "complaint"
    assert reasons[suppression.address_hash("sara.alnajjar@gmail.com")] == "hard_bounce"


async def _bounce(service: Service, clock: Clock, sub_id: int, kind: str) -> scoring.Handled:
    async with service.db.transaction() as session:
        sub = await session.get(Subscriber, sub_id)
        assert sub is not None
        target = scoring.Target(sub.email, sub.id)
        return await scoring.record(session, service.settings, target, kind, clock.now, source="dsn")  # type: ignore[arg-type]


async def test_hard_bounces_disable_at_the_threshold_counting_one_a_day(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    sub = await factories.subscriber(service, "fading@example.org")
    assert (await _bounce(service, clock, sub.id, "hard")).action == "counted"
    clock.advance(hours=1)
    assert (await _bounce(service, clock, sub.id, "hard")).action == "not counted"  # same day
    clock.advance(days=1)
    assert (await _bounce(service, clock, sub.id, "hard")).score == 4
    clock.advance(days=1)
    third = await _bounce(service, clock, sub.id, "hard")
    assert (third.action, third.score) == ("disabled", 6)
    async with service.db.transaction() as session:
        refreshed = await session.get(Subscriber, sub.id)
        events = list(await session.scalars(select(BounceEvent).order_by(BounceEvent.id)))
        assert await suppression.is_suppressed(session, "fading@example.org")
    assert refreshed is not None and refreshed.status == "bounced"
    assert [e.counted for e in events] == [True, False, True, True]
    # a disabled subscriber gets no more digests
    await factories.ingest_items(service, 2, clock.now)
    await factories.subscriber(service, "active@example.org")
    await service.run_list("daily", clock.now)
    await service.sender.drain()
    assert [r.rcpt_tos[0] for r in smtp_server.received] == ["active@example.org"]


async def test_soft_bounces_decay_after_seven_days(service: Service, clock: Clock) -> None:
    sub = await factories.subscriber(service, "full@example.org")
    scores = []
    for _ in range(5):
        scores.append((await _bounce(service, clock, sub.id, "soft")).score)
        clock.advance(days=1)
    assert scores == [1, 2, 3, 4, 5]
    clock.advance(days=4)  # day 9: the bounces of days 0, 1 and 2 are older than a week
    late = await _bounce(service, clock, sub.id, "soft")
    assert (late.action, late.score) == ("counted", 3)
    # a hard bounce outranks the soft one already counted that day
    hard = await _bounce(service, clock, sub.id, "hard")
    assert (hard.action, hard.score) == ("counted", 4)


async def test_a_complaint_suppresses_at_once(service: Service, smtp_server: SMTPServer, clock: Clock) -> None:
    sub = await factories.subscriber(service, "annoyed@example.org")
    handled = await _bounce(service, clock, sub.id, "complaint")
    assert handled.action == "suppressed"
    await factories.ingest_items(service, 2, clock.now)
    result = await service.run_list("daily", clock.now)
    assert result.enqueued == 0  # no longer confirmed
    async with service.db.transaction() as session:
        assert await suppression.is_suppressed(session, "annoyed@example.org")
        assert (await session.get(Subscriber, sub.id)).status == "unsubscribed"  # type: ignore[union-attr]
