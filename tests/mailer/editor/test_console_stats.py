"""The console's daily counts on SQLite and PostgreSQL, with data made by the real flows: messages
delivered by the sender to a real SMTP peer, complaints and bounces recorded by the bounce flow,
unsubscribes by the subscriber flow, shares by the share records. Days are the site's (Baghdad,
UTC+3; and a zone with daylight saving), the complaint rate is per day, the warning starts above
0.1 % and the Gmail/Yahoo line at 0.3 %."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from mailer.core.models import OutboxMessage
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.editor import deliverability, localdays, stats
from mailer.shares import records
from subscribers import bounces as scoring
from subscribers import flows, history
from subscribers.models import ListCount, Subscriber
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

BAGHDAD = ZoneInfo("Asia/Baghdad")
BERLIN = ZoneInfo("Europe/Berlin")
# 23:59:59 in Baghdad on 1 December, and midnight starting 2 December
LAST_SECOND = datetime(2026, 12, 1, 20, 59, 59, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)


async def deliver(service: Service, clock: Clock, at: datetime, recipients: list[str]) -> list[int]:
    """Send one message to each recipient through the real sender, at ``at``."""
    clock.now = at
    ids = []
    async with service.db.transaction() as session:
        for n, rcpt in enumerate(recipients):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "newsletter@news.example.com", rcpt, "خبر"
            msg.set_content("نص")
            ids.append(await outbox.enqueue(session, outbox.message_row(
                kind="share", recipient=rcpt, payload=bytes(msg), message_id=f"<{at.timestamp()}.{n}@t>", now=at)))
    await service.sender.drain()
    return ids


async def bulk_sent(service: Service, at: datetime, count: int) -> None:
    """``count`` delivered digest rows at ``at`` (volume for the rates; the table the sender writes)."""
    async with service.db.transaction() as session:
        await session.execute(insert(OutboxMessage), [
            {"kind": "digest", "recipient": f"r{i}@example.org", "priority": 10, "status": "sent", "attempts": 1,
             "recoveries": 0, "history": "[]", "next_attempt_at": at, "created_at": at, "sent_at": at}
            for i in range(count)])


async def complain(service: Service, clock: Clock, at: datetime, sub: Subscriber, kind: str = "complaint",
                   source: str = "arf", detail: str = "") -> None:
    clock.now = at
    async with service.db.transaction() as session:
        await scoring.record(session, service.settings, scoring.Target(sub.email, sub.id), kind, at,  # type: ignore[arg-type]
                             source=source, detail=detail)


def by_day(days: list[stats.Day]) -> dict[date, stats.Day]:
    return {d.day: d for d in days}


async def test_messages_and_events_fall_on_the_sites_local_day(
    service: Service, clock: Clock, smtp_server: SMTPServer
) -> None:
    await deliver(service, clock, LAST_SECOND, ["a@example.org", "b@example.org"])
    await deliver(service, clock, MIDNIGHT, ["c@example.org"])
    assert len(smtp_server.received) == 3
    subs = [await factories.subscriber(service, f"s{i}@example.org") for i in range(4)]
    await complain(service, clock, LAST_SECOND, subs[0])
    await complain(service, clock, MIDNIGHT, subs[1])
    await complain(service, clock, MIDNIGHT, subs[2], "hard", "smtp", "550 5.1.1 no such user")
    async with service.db.transaction() as session:  # a complaint nobody can tie to our mail
        await scoring.record_unattributed(session, service.settings, "complaint", ["x@example.org"], MIDNIGHT,
                                          source="arf")
        await flows.unsubscribe(session, subs[3].id, MIDNIGHT - timedelta(seconds=1))
        await records.add(session, now=MIDNIGHT, outcome="queued", article_id=1)
        await records.add(session, now=MIDNIGHT, outcome="rate_limited", article_id=1)
    clock.now = MIDNIGHT + timedelta(hours=5)
    days = localdays.last_days(clock.now, BAGHDAD, 30)
    assert days[-1] == date(2026, 12, 2) and len(days) == 30
    async with service.db.transaction() as session:
        counted = by_day(await stats.daily(session, BAGHDAD, days, clock.now))
    first, second = counted[date(2026, 12, 1)], counted[date(2026, 12, 2)]
    # a complaint unsubscribes its reader too: the day's leavers are the complainer and the one who asked
    assert (first.delivered, first.complaints, first.unsubscribes, first.shares) == (2, 1, 2, 0)
    assert (second.delivered, second.complaints, second.bounces, second.refused_at_once, second.shares) == (1, 1, 1, 1, 1)
    assert second.unsubscribes == 1  # the complainer; the bounced address is disabled, not unsubscribed
    assert first.complaint_rate == 0.5 and second.complaint_rate == 1.0
    assert second.bounce_rate == 0.5  # one refused of two attempts (one delivered, one refused)
    assert first.unsubscribe_rate == 1.0
    assert sum(d.delivered for d in counted.values()) == 3  # nothing outside the two days
    # in UTC the same rows fall on one day: the zone decides
    async with service.db.transaction() as session:
        utc = by_day(await stats.daily(session, ZoneInfo("UTC"), localdays.last_days(clock.now, ZoneInfo("UTC"), 3), clock.now))
    assert utc[date(2026, 12, 1)].delivered == 3


async def test_days_across_a_daylight_saving_change(service: Service, clock: Clock) -> None:
    """Berlin leaves summer time at 03:00 on 25 October 2026 (01:00 UTC): that day has 25 hours."""
    stamps = {
        datetime(2026, 10, 24, 21, 59, tzinfo=UTC): date(2026, 10, 24),  # 23:59 CEST
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC): date(2026, 10, 25),  # 00:00 CEST
        datetime(2026, 10, 25, 0, 59, tzinfo=UTC): date(2026, 10, 25),  # 02:59 CEST
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC): date(2026, 10, 25),  # 02:00 CET
        datetime(2026, 10, 25, 22, 59, tzinfo=UTC): date(2026, 10, 25),  # 23:59 CET
        datetime(2026, 10, 25, 23, 0, tzinfo=UTC): date(2026, 10, 26),  # 00:00 CET
    }
    for n, at in enumerate(stamps, start=1):
        await bulk_sent(service, at, n)
    days = [date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)]
    async with service.db.transaction() as session:
        counted = by_day(await stats.daily(session, BERLIN, days, clock.now))
    expected: dict[date, int] = {}
    for n, day in enumerate(stamps.values(), start=1):
        expected[day] = expected.get(day, 0) + n
    assert {d: c.delivered for d, c in counted.items()} == expected == {
        date(2026, 10, 24): 1, date(2026, 10, 25): 2 + 3 + 4 + 5, date(2026, 10, 26): 6}


def test_offset_pieces_cut_the_window_at_each_change() -> None:
    start, end = localdays.window([date(2026, 3, 1), date(2026, 11, 30)], BERLIN)
    pieces = localdays.offset_pieces(start, end, BERLIN)
    assert [(at.astimezone(UTC), off) for at, off in pieces] == [
        (datetime(2026, 2, 28, 23, 0, tzinfo=UTC), timedelta(hours=1)),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), timedelta(hours=2)),
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), timedelta(hours=1)),
    ]
    assert len(localdays.offset_pieces(*localdays.window([date(2026, 1, 1), date(2026, 12, 31)], BAGHDAD),
                                       BAGHDAD)) == 1


async def test_complaint_rate_and_its_warning_thresholds(service: Service, clock: Clock) -> None:
    """1 complaint in 1,000 delivered is 0.1 %: no warning; 2 in 1,000 warns; 4 in 1,000 is over 0.3 %."""
    subs = [await factories.subscriber(service, f"c{i}@example.org") for i in range(7)]
    noon = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    for offset in range(3):
        await bulk_sent(service, noon + timedelta(days=offset), 1000)
    await complain(service, clock, noon, subs[0])  # 28 Nov: 1 / 1000
    for sub in subs[1:3]:
        await complain(service, clock, noon + timedelta(days=1), sub)  # 29 Nov: 2 / 1000
    clock.now = noon + timedelta(days=1, hours=1)
    days = localdays.last_days(clock.now, BAGHDAD, 30)
    async with service.db.transaction() as session:
        daily = await stats.daily(session, BAGHDAD, days, clock.now)
    rated = by_day(daily)
    assert rated[date(2026, 11, 28)].complaint_rate == 0.001
    assert stats.verdict(daily[:-1]).level == "ok"  # up to 28 Nov: exactly 0.1 % is not above it
    verdict = stats.verdict(daily)
    assert verdict.level == "warn" and verdict.worst is not None and verdict.worst.day == date(2026, 11, 29)
    for sub in subs[3:7]:
        await complain(service, clock, noon + timedelta(days=2), sub)  # 30 Nov: 4 / 1000
    clock.now = noon + timedelta(days=2, hours=1)
    async with service.db.transaction() as session:
        daily = await stats.daily(session, BAGHDAD, localdays.last_days(clock.now, BAGHDAD, 30), clock.now)
    verdict = stats.verdict(daily)
    assert (verdict.level, verdict.worst and verdict.worst.complaint_rate) == ("over", 0.004)
    # a bad day more than a week ago no longer warns
    clock.now = noon + timedelta(days=10)
    async with service.db.transaction() as session:
        later = await stats.daily(session, BAGHDAD, localdays.last_days(clock.now, BAGHDAD, 30), clock.now)
    assert stats.verdict(later).level == "ok"
    assert stats.totals(later).complaints == 7 and stats.totals(later).delivered == 3000


def test_verdict_boundaries() -> None:
    day = date(2026, 12, 1)
    def level(complaints: int, delivered: int) -> str:
        return stats.verdict([stats.Day(day, delivered=delivered, complaints=complaints)]).level
    assert [level(1, 1000), level(11, 10000), level(3, 1000), level(31, 10000), level(5, 0)] == [
        "ok", "warn", "warn", "over", "ok"]


async def test_the_log_pages_by_keyset_and_the_suppression_search(service: Service, clock: Clock) -> None:
    subs = [await factories.subscriber(service, f"reader{i:02}@example.org") for i in range(7)]
    other = await factories.subscriber(service, "zaid@example.net")
    for i, sub in enumerate(subs):
        await complain(service, clock, clock.now + timedelta(minutes=i), sub,
                       *(("complaint", "arf") if i % 2 else ("hard", "dsn", "550 5.1.1 user unknown")))
    async with service.db.transaction() as session:
        await flows.unsubscribe(session, other.id, clock.now)
        first = await deliverability.events(session, limit=3)
        second = await deliverability.events(session, before=first.next_before, limit=3)
        third = await deliverability.events(session, before=second.next_before, limit=3)
        complaints = await deliverability.events(session, kind="complaint")
        found = await deliverability.search(session, "reader0")
        exact = await deliverability.search(session, "zaid@example.net")
        none = await deliverability.search(session, "reader0_")  # "_" is no wildcard
        counts = await deliverability.reason_counts(session)
        listed = await deliverability.suppressions(session, limit=5)
    names = [e.recipient for e in first.rows + second.rows + third.rows]
    assert names == [s.email for s in reversed(subs)]  # newest first, each once
    assert third.next_before is None and len(third.rows) == 1
    assert {e.kind for e in complaints.rows} == {"complaint"} and len(complaints.rows) == 3
    assert {s.address for s in found.rows} == {f"reader0{i}@example.org" for i in range(7)}
    assert {s.reason for s in found.rows} == {"complaint", "hard_bounce"}
    assert [(s.address, s.reason) for s in exact.rows] == [("zaid@example.net", "unsubscribe")]
    assert none.rows == []
    assert counts == {"complaint": 3, "hard_bounce": 4, "unsubscribe": 1}
    assert len(listed.rows) == 5 and listed.next_before is not None


async def test_list_counts_are_recorded_once_a_day_and_read_back(service: Service, clock: Clock) -> None:
    await factories.subscriber(service, "a@example.org", lists=("daily", "weekly"))
    await factories.subscriber(service, "b@example.org", lists=("daily",))
    await factories.subscriber(service, "p@example.org", lists=("daily",), status="pending")
    day = date(2026, 11, 25)
    async with service.db.transaction() as session:
        assert await history.live(session) == {"daily": 2, "weekly": 1}
        await history.record(session, ("daily", "weekly", "empty"), day, clock.now)
    c = await factories.subscriber(service, "c@example.org", lists=("weekly",))
    async with service.db.transaction() as session:
        await history.record(session, ("daily", "weekly", "empty"), day, clock.now)  # later the same day
        await flows.unsubscribe(session, c.id, clock.now)
        await history.record(session, ("daily", "weekly"), day + timedelta(days=1), clock.now)
        rows = await session.scalar(select(ListCount.day).where(ListCount.list_name == "empty"))
        recorded = await history.between(session, day, day + timedelta(days=1))
    assert rows == "2026-11-25"
    assert recorded == {(day, "daily"): 2, (day, "weekly"): 2, (day, "empty"): 0,
                        (day + timedelta(days=1), "daily"): 2, (day + timedelta(days=1), "weekly"): 1}


async def test_the_suppression_list_names_the_addresses_still_known_but_never_an_erased_one(
    service: Service, clock: Clock
) -> None:
    clock.now = datetime.now(UTC)  # suppressions are stamped by the database's default, in real time
    complainer = await factories.subscriber(service, "loud@example.org")
    leaver = await factories.subscriber(service, "leaver@example.org")
    erased = await factories.subscriber(service, "erased@example.org")
    await complain(service, clock, clock.now, complainer)
    await complain(service, clock, clock.now, erased, "hard", "dsn", "550 5.1.1 user unknown")
    async with service.db.transaction() as session:
        await flows.unsubscribe(session, leaver.id, clock.now)
        await flows.forget(session, erased.email, erase=outbox.erase)
    async with service.db.transaction() as session:
        listed = await deliverability.suppressions(session)
        prefix = await deliverability.search(session, "e")
        typed = await deliverability.search(session, "erased@example.org")
    assert {(s.address, s.reason) for s in listed.rows} == {
        ("loud@example.org", "complaint"), ("leaver@example.org", "unsubscribe"), (None, "forget")}
    assert prefix.rows == []  # erased@... is still in the bounce log, but a prefix does not find it
    assert [(s.address, s.reason) for s in typed.rows] == [("erased@example.org", "forget")]


async def test_the_schedulers_chore_records_todays_counts(service: Service, clock: Clock) -> None:
    from mailer.cli.serve import LIST_COUNTS_CRON, _count_lists
    from mailer.editions.schedule import parse_cron

    parse_cron(LIST_COUNTS_CRON, service.settings.timezone)  # a valid line
    await factories.subscriber(service, "a@example.org", lists=("daily", "weekly"))
    clock.now = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)  # 00:30 on 2 December in Baghdad
    await _count_lists(service)
    async with service.db.transaction() as session:
        recorded = await history.between(session, date(2026, 12, 1), date(2026, 12, 2))
    assert recorded == {(date(2026, 12, 2), name): 1 for name in ("daily", "weekly")}
    async with service.db.transaction() as session:  # and the 90 days before today are counted and kept
        from sqlalchemy import func

        from mailer.core.models import DailyTotal
        kept = await session.scalar(select(func.count(func.distinct(DailyTotal.day))))
    assert kept == 89  # today is still open


async def test_a_closed_days_counts_are_stored_once_and_outlive_the_outbox_rows(service: Service, clock: Clock) -> None:
    from sqlalchemy import delete, func

    from mailer.core.models import DailyTotal

    yesterday, today = datetime(2026, 11, 30, 9, 0, tzinfo=UTC), datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    await bulk_sent(service, yesterday, 5)
    await bulk_sent(service, today, 3)
    clock.now = today + timedelta(hours=1)
    days = localdays.last_days(clock.now, BAGHDAD, 2)

    async def delivered() -> list[int]:
        async with service.db.transaction() as session:
            return [d.delivered for d in await stats.daily(session, BAGHDAD, days, clock.now)]

    assert await delivered() == [5, 3]
    async with service.db.transaction() as session:
        stored = (await session.execute(select(DailyTotal.day, DailyTotal.name, DailyTotal.count)
                                        .where(DailyTotal.zone == "Asia/Baghdad"))).all()
        assert sorted(stored) == [("2026-11-30", "delivered", 5), ("2026-11-30", "shares", 0),
                                  ("2026-11-30", "unsubscribes", 0)]  # today is not closed: not stored
        await session.execute(delete(OutboxMessage))  # as `mailer prune` does to old rows
    await bulk_sent(service, today, 1)
    assert await delivered() == [5, 1]  # the closed day from the store, today live
    async with service.db.transaction() as session:  # another zone's days are its own
        utc = await stats.daily(session, ZoneInfo("UTC"), localdays.last_days(clock.now, ZoneInfo("UTC"), 2), clock.now)
        rows = await session.scalar(select(func.count()).select_from(DailyTotal))
    assert [d.delivered for d in utc] == [0, 1] and rows == 6
