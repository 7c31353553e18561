"""Rotating the secret key over the wire: a real digest is delivered, the key is rotated, and the
unsubscribe link in that delivered mail still works by one click (RFC 8058) while the old key is
kept in MAILER_SECRET_KEY_PREVIOUS, and is refused like a forgery once it is dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import update

from mailer.core.settings import Settings
from mailer.core.signing import Keyring
from mailer.delivery.service import Service
from subscribers import tokens
from subscribers.models import Subscriber
from tests.conftest import SECRET, Clock, serve
from tests.subscribers.helpers import legacy_token, link, news, one_click_path, page, status_of, to
from tests.support import factories
from tests.support.smtpd import SMTPServer

NEW_SECRET = "rotated-secret-" + "r" * 40
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


@asynccontextmanager
async def running(settings: Settings, clock: Clock) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    """Another process's worth of service on the same database, with its own settings and app."""
    svc = await Service(settings, clock=clock).start()
    try:
        async with serve(svc) as url, httpx.AsyncClient(base_url=url) as client:
            yield svc, client
    finally:
        await svc.close()


async def test_a_delivered_unsubscribe_link_survives_a_rotation_until_its_key_is_dropped(
    service: Service, smtp_server: SMTPServer, clock: Clock, settings: Settings,
    make_settings: Callable[..., Settings],
) -> None:
    await news(service, range(1, 3), clock.now)
    for email in ("kept@example.org", "dropped@example.org"):
        await factories.subscriber(service, email)
    await service.run_list("daily", clock.now)
    assert await service.sender.drain() == {"sent": 2}
    delivered = {to(r): one_click_path(r) for r in smtp_server.received}
    for received in smtp_server.received:  # the same link in the header and in the text
        assert link(received, "/u/") == delivered[to(received)]
    old_key_id = Keyring.of(SECRET).key_ids[0]
    assert all(path[-26:].startswith(old_key_id) for path in delivered.values())
    same_database = {"database_url": settings.database_url, "smtp_url": settings.smtp_url}

    # rotated: a new current key, the old one kept as a previous key
    rotated = make_settings(**same_database, secret_key=NEW_SECRET, secret_key_previous=SECRET)
    async with running(rotated, clock) as (svc, client):
        reply = await client.post(delivered["kept@example.org"], **ONE_CLICK)
        assert reply.status_code == 200 and "location" not in reply.headers
        assert await status_of(svc, "kept@example.org") == "unsubscribed"
        assert (await client.post(delivered["kept@example.org"], **ONE_CLICK)).status_code == 200  # idempotent
        # what is signed now carries the new key's id
        fresh = tokens.unsubscribe_token(svc.settings.keyring, 1, "daily", None)
        assert fresh[-26:].startswith(Keyring.of(NEW_SECRET).key_ids[0])

    # the old key dropped: its links die, with the answer a forgery gets
    dropped = make_settings(**same_database, secret_key=NEW_SECRET)
    async with running(dropped, clock) as (svc, client):
        path = delivered["dropped@example.org"]
        refused = await client.post(path, **ONE_CLICK)
        forged = await client.post(path[:-1] + ("A" if path[-1] != "A" else "B"), **ONE_CLICK)
        assert refused.status_code == forged.status_code == 400
        assert page(refused) == page(forged) and "الرابط غير صالح" in refused.text
        assert (await client.get(path)).status_code == 400
        assert await status_of(svc, "dropped@example.org") == "confirmed"


async def test_a_link_from_before_key_ids_still_unsubscribes(
    service: Service, clock: Clock, settings: Settings, make_settings: Callable[..., Settings],
) -> None:
    """Mail delivered before this change carries ``{id}.{list}.{22-character MAC}``; it went to
    subscribers from before link keys (the migration gives them none)."""
    first = await factories.subscriber(service, "first@example.org")
    second = await factories.subscriber(service, "second@example.org")
    async with service.db.transaction() as session:
        await session.execute(update(Subscriber).values(link_key=None))
    async with serve(service) as url, httpx.AsyncClient(base_url=url) as client:
        path = f"/u/{legacy_token(SECRET, 'unsubscribe', first.id, 'daily')}"
        assert (await client.get(path)).status_code == 200
        assert (await client.post(path, **ONE_CLICK)).status_code == 200
        prefs = await client.get(f"/p/{legacy_token(SECRET, 'preferences', first.id, 'pref')}")
        assert prefs.status_code == 200
    assert await status_of(service, "first@example.org") == "unsubscribed"

    rotated = make_settings(database_url=settings.database_url, secret_key=NEW_SECRET, secret_key_previous=[SECRET])
    async with running(rotated, clock) as (svc, client):
        old = f"/u/{legacy_token(SECRET, 'unsubscribe', second.id, 'daily')}"
        assert (await client.post(old, **ONE_CLICK)).status_code == 200
        assert await status_of(svc, "second@example.org") == "unsubscribed"
        other_key = f"/u/{legacy_token('another-secret-' + 'y' * 30, 'unsubscribe', second.id, 'daily')}"
        assert (await client.post(other_key, **ONE_CLICK)).status_code == 400
