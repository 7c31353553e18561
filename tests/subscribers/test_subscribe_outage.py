"""Subscriptions answered while the database cannot be reached are stored once it is back: the
work after ``POST /subscribe``'s answer waits for the database instead of dropping the requests
(before, a batch and two tries of each request failed within a second and the requests were
lost, their readers told to check their mail). The outage is real: a TCP proxy between the
service and PostgreSQL, cut and restored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from mailer.core.db import Database
from mailer.core.settings import Settings
from mailer.delivery.notifier import Notifier
from mailer.delivery.service import Service
from mailer.web.subscribing import Subscriptions
from subscribers import flows
from subscribers.addresses import check
from subscribers.models import Subscriber
from tests.conftest import Clock
from tests.support.smtpd import SMTPServer
from tests.support.tcpproxy import TcpProxy


async def test_subscriptions_answered_during_an_outage_are_stored_when_the_database_is_back(
    database_url: str, make_settings: Callable[..., Settings], smtp_server: SMTPServer, clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a network outage: PostgreSQL's (SQLite has no connection to lose)")
    caplog.set_level(logging.WARNING, logger="mailer.web.subscribing")
    proxy = await TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    svc = await Service(make_settings(database_url=through, smtp_url=smtp_server.url), clock=clock).start()
    try:
        subscriptions = Subscriptions(svc, Notifier(svc.settings, svc.renderer))
        await proxy.cut()
        for n in range(3):
            await subscriptions.add(flows.Request(check(f"reader{n}@example.org"), lists=("daily",)))
        await asyncio.sleep(3)  # the batch has met the outage and tried again by now
        assert "cannot reach the database" in caplog.text
        await proxy.start()
        await asyncio.wait_for(svc.later.settle(), 120)
    finally:
        await svc.close()
        await proxy.cut()
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            stored = await session.scalar(select(func.count()).select_from(Subscriber))
    finally:
        await db.dispose()
    assert stored == 3
    assert "failed after" not in caplog.text
