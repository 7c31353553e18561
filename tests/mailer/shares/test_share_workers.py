"""The per-recipient limit holds across workers: two services on one database, many shares of
one article to one friend at the same moment, exactly one goes out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mailer.core.errors import RateLimited
from mailer.core.settings import Settings
from mailer.delivery.service import Service
from mailer.shares.desk import ShareDesk
from mailer.shares.tokens import form_token
from tests.conftest import Clock
from tests.mailer.shares.conftest import Harness
from tests.support.smtpd import SMTPServer


async def test_one_share_per_recipient_and_article_across_workers(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock, share_app
) -> None:
    h: Harness = await share_app()
    article_id = await h.article()
    other = await Service(h.svc.settings, clock=clock).start(migrate=False)
    try:
        desks = [ShareDesk(h.svc), ShareDesk(other)]
        tokens = [form_token(h.svc.settings.keyring, article_id, clock.now) for _ in range(8)]  # eight readers
        clock.advance(seconds=10)

        async def attempt(n: int) -> str:
            fields = {"article_id": str(article_id), "form_token": tokens[n], "friend_email": "friend@example.org",
                      "sender_name": f"قارئ {n}"}
            try:
                await desks[n % 2].share(fields.items(), f"10.0.0.{n}")
            except RateLimited as exc:
                return getattr(exc, "reason", "?")
            return "queued"

        outcomes = await asyncio.gather(*(attempt(n) for n in range(8)))
    finally:
        await other.close()
    assert sorted(outcomes) == ["queued"] + ["rate_recipient_article"] * 7
    assert await h.queued_shares() == 1
    assert len(await h.deliver()) == 1
