"""``mailer shares stats``: counts per article and refusals per reason, from real shares."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from mailer.articles import ingest
from mailer.cli.main import app
from mailer.core.errors import MailerError
from mailer.core.settings import Settings
from mailer.delivery.service import Service
from mailer.shares.desk import ShareDesk
from mailer.shares.tokens import form_token
from tests.conftest import SECRET, Clock
from tests.support.smtpd import SMTPServer


def test_stats_counts_shares_per_article_and_refusals_per_reason(
    make_settings: Callable[..., Settings], smtp_server: SMTPServer, tmp_path
) -> None:
    settings = make_settings(smtp_url=smtp_server.url)
    clock = Clock(datetime.now(UTC) - timedelta(minutes=5))

    async def seed() -> list[int]:
        svc = await Service(settings, clock=clock).start()
        try:
            ids = []
            for n in (1, 2):
                article = ingest.parse_api({"url": f"https://news.example.com/news/{n}", "title": f"الخبر {n}"},
                                           now=clock.now)
                async with svc.db.transaction() as session:
                    ids.append((await ingest.store(session, [article])).ids[0])
            desk = ShareDesk(svc)
            attempts = [
                (ids[0], "a@example.org", ""), (ids[0], "b@example.org", ""), (ids[0], "a@example.org", ""),
                (ids[1], "c@example.org", ""), (ids[1], "d@example.org", "spam"), (777, "e@example.org", ""),
            ]
            for n, (article_id, friend, honeypot) in enumerate(attempts):
                token = form_token(settings.keyring, article_id, clock.now)
                clock.advance(seconds=5)
                fields = {"article_id": str(article_id), "form_token": token, "friend_email": friend,
                          "sender_name": "أحمد", "website": honeypot}
                with contextlib.suppress(MailerError):
                    await desk.share(fields.items(), f"192.0.2.{n}")
            await svc.sender.drain()
            return ids
        finally:
            await svc.close()

    first, second = asyncio.run(seed())
    env = {"MAILER_DATABASE_URL": settings.database_url, "MAILER_SECRET_KEY": SECRET,
           "MAILER_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["shares", "stats"], env=env)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in result.output.splitlines() if re.match(r"│ *\S", line)}
    # article: title, queued, delivered, refused
    assert rows[str(first)] == ["الخبر 1", "2", "2", "1"]
    assert rows[str(second)] == ["الخبر 2", "1", "1", "1"]
    assert rows["777"] == ["(unknown article)", "0", "0", "1"]
    assert rows["rate_recipient_article"] == ["1"] and rows["honeypot"] == ["1"] and rows["not_found"] == ["1"]
    assert "3 sent" in result.output
    assert len(smtp_server.received) == 3

    assert CliRunner().invoke(app, ["shares", "stats", "--help"], env=env).exit_code == 0
