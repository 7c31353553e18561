"""POST /subscribe's work after the answer, a batch at a time (``mailer.web.subscribing``), against
a real database and a real SMTP peer: many requests at once all land, each mailbox gets exactly
one confirmation however often and in whatever case it was asked for, the states of issue 13 keep
their outcomes inside one batch, a batch that fails is done again one request at a time, and the
global breaker caps the links of requests answered while it was still open."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from sqlalchemy import func, select, text

from mailer.delivery.service import Service
from mailer.web.app import create_app
from subscribers import flows
from subscribers.addresses import check
from subscribers.models import Confirmation, Subscriber
from tests.conftest import Clock, serve
from tests.subscribers.helpers import status_of, to
from tests.support import factories
from tests.support.smtpd import SMTPServer


async def post_all(url: str, addresses: list[str]) -> list[int]:
    """Every address posted at once, each on its own connection."""
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 limits=httpx.Limits(max_connections=len(addresses))) as client:
        replies = await asyncio.gather(*(client.post("/subscribe", json={"email": a}) for a in addresses))
    return [r.status_code for r in replies]


FALLBACK = "one at a time"  # what the log says when a batch failed and is done again request by request


def log_batches(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mailer.web.subscribing")


async def count(service: Service, model: type[Subscriber] | type[Confirmation]) -> int:
    async with service.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_many_requests_at_once_all_land_with_one_confirmation_per_mailbox(
    service: Service, smtp_server: SMTPServer, live_app: str, caplog: pytest.LogCaptureFixture
) -> None:
    log_batches(caplog)
    fresh = [f"reader{n}@example.org" for n in range(60)]
    repeated = [f"twice{n}@example.org" for n in range(10)]
    addresses = fresh + repeated + [a.upper() for a in repeated] + [a.replace("twice", "Twice") for a in repeated]
    assert await post_all(live_app, addresses) == [200] * len(addresses)
    await service.later.settle()
    assert await count(service, Subscriber) == 70
    await service.sender.drain()
    received = sorted(to(r).lower() for r in smtp_server.received)
    assert received == sorted(fresh + repeated)  # one each, never two
    assert FALLBACK not in caplog.text  # the batches did it, not the request-by-request fallback


async def test_every_state_keeps_its_outcome_within_one_batch(
    service: Service, smtp_server: SMTPServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    log_batches(caplog)
    await factories.subscriber(service, "member@example.org")
    await factories.subscriber(service, "paused@example.org", status="paused")
    left = await factories.subscriber(service, "left@example.org")
    await factories.subscriber(service, "bounced@example.org")
    async with service.db.transaction() as session:
        await flows.unsubscribe(session, left.id, clock.now)
        await flows.disable(session, "bounced@example.org", clock.now)
    async with serve(service) as url:
        addresses = ["new@example.org", "member@example.org", "paused@example.org", "left@example.org",
                     "bounced@example.org", "new@example.org"]
        assert await post_all(url, addresses) == [200] * len(addresses)
    assert [await status_of(service, a) for a in ("new@example.org", "member@example.org", "paused@example.org",
                                                  "left@example.org", "bounced@example.org")] == [
        "pending", "confirmed", "paused", "pending", "bounced"]
    await service.sender.drain()
    assert sorted(to(r) for r in smtp_server.received) == ["left@example.org", "new@example.org"]
    assert FALLBACK not in caplog.text


async def test_a_batch_that_fails_is_done_one_request_at_a_time(
    service: Service, smtp_server: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A request the database refuses (here a trigger: a real failure, in the database) costs
    the other requests of its batch nothing."""
    log_batches(caplog)
    async with service.db.transaction() as session:
        if service.db.dialect == "sqlite":
            await session.execute(text(
                "CREATE TRIGGER poison BEFORE INSERT ON subscribers WHEN NEW.email = 'poison@example.org' "
                "BEGIN SELECT RAISE(ABORT, 'poison'); END"))
        else:
            await session.execute(text(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.email = 'poison@example.org' THEN "
                "RAISE EXCEPTION 'poison'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
            await session.execute(text(
                "CREATE TRIGGER poison BEFORE INSERT ON subscribers FOR EACH ROW EXECUTE FUNCTION poison()"))
    addresses = ["a@example.org", "poison@example.org", "b@example.org"]
    subscriptions = create_app(service).state.objects.subscriptions
    for address in addresses:  # one after the other, with nothing in between: one batch
        await subscriptions.add(flows.Request(check(address), lists=("daily",)))
    assert [await status_of(service, a) for a in addresses] == ["pending", None, "pending"]
    await service.sender.drain()
    assert sorted(to(r) for r in smtp_server.received) == ["a@example.org", "b@example.org"]
    assert FALLBACK in caplog.text


async def test_the_breaker_caps_the_links_of_requests_answered_while_it_was_open(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    """Six requests at once while no link was made yet: all are answered (the breaker is open),
    but only three links go out, the hour's limit."""
    limited = await Service(service.settings.model_copy(update={"subscribe_global_per_hour": 3}), clock=clock).start()
    try:
        async with serve(limited) as url:
            assert await post_all(url, [f"r{n}@example.org" for n in range(6)]) == [200] * 6
        await limited.later.settle()
        assert await count(limited, Confirmation) == 3
        await limited.sender.drain()
    finally:
        await limited.close()
    assert len(smtp_server.received) == 3


async def test_a_closing_service_does_the_work_of_every_answered_request(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    other = await Service(service.settings, clock=clock).start()
    async with serve(other) as url:
        assert await post_all(url, [f"late{n}@example.org" for n in range(20)]) == [200] * 20
    await other.close()  # no settle first: close waits for the queue
    assert await count(service, Subscriber) == 20
    assert await count(service, Confirmation) == 20
