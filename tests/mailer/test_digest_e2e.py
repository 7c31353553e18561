"""The whole pipeline: feed -> edition -> composed mail -> real SMTP server -> unsubscribe."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import quote

import httpx
from sqlalchemy import select

from mailer.articles import fetch, ingest
from mailer.delivery.service import Service
from subscribers.models import Subscriber
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

ARABIC = re.compile(r"[\u0600-\u06ff]")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


async def test_digest_reaches_confirmed_subscribers_only(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str, tmp_path
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(factories.rss(factories.item(n, clock.now) for n in range(1, 5)))
    parsed = ingest.parse_feed(await fetch.read_source(str(feed), deadline=5, max_bytes=1 << 20), now=clock.now)
    assert not parsed.problems
    async with service.db.transaction() as session:
        await ingest.store(session, parsed.articles)
    await factories.subscriber(service, "first@example.org", name="أحمد")
    await factories.subscriber(service, "second@example.net", name="Sara O'Neil")
    await factories.subscriber(service, "pending@example.com", status="pending")

    result = await service.run_list("daily", clock.now)
    assert result.action == "sending" and result.enqueued == 2
    totals = await service.sender.drain()
    assert totals == {"sent": 2}

    received = smtp_server.received
    assert sorted(r.rcpt_tos[0] for r in received) == ["first@example.org", "second@example.net"]
    message_ids = set()
    for r in received:
        msg = r.message
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert ARABIC.search(text) and ARABIC.search(html)
        assert "مرحباً" in text

        tags = Tags()
        tags.feed(html)
        html_tag = next(attrs for tag, attrs in tags.tags if tag == "html")
        assert html_tag["dir"] == "rtl" and html_tag["lang"] == "ar"
        tables = [attrs for tag, attrs in tags.tags if tag == "table"]
        assert tables and all(t.get("dir") == "rtl" for t in tables)
        # inlined: what stays in <style> is only the phone media query
        assert all(s.strip().startswith("@media") for s in tags.styles)
        assert 'style="' in html and "text-align:right" in html
        for n in range(1, 5):
            assert f"عنوان الخبر رقم {n} عن العراق" in html
            # tracked by default (MAILER_TRACKING=aggregate): a signed /r/ link naming the article
            assert re.search(r'href="https://news\.example\.com/r/[^"?]+\?u='
                             + re.escape(quote(f"https://news.example.com/news/{n}", safe="")) + '"', html)
            assert f"https://news.example.com/news/{n}" in text

        for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Id",
                       "List-Unsubscribe", "List-Unsubscribe-Post"):
            assert msg[header], header
        assert ARABIC.search(str(msg["Subject"]))
        assert msg["From"].addresses[0].display_name == "أخبار الموقع"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["List-Id"].endswith("<daily.news.example.com>")
        message_ids.add(msg["Message-ID"])
    assert len(message_ids) == 2

    # the one-click URL works, as Gmail sends it
    msg = next(r.message for r in received if r.rcpt_tos[0] == "second@example.net")
    https_url = re.search(r"<(https://[^>]+)>", msg["List-Unsubscribe"]).group(1)
    path = https_url.removeprefix("https://news.example.com")
    async with httpx.AsyncClient(base_url=live_app) as client:
        reply = await client.post(
            path, content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert reply.status_code == 200
    async with service.db.transaction() as session:
        status = (await session.scalars(
            select(Subscriber.status).where(Subscriber.email == "second@example.net"))).one()
    assert status == "unsubscribed"


async def test_same_period_twice_sends_nothing_more(service: Service, smtp_server: SMTPServer, clock: Clock) -> None:
    await factories.ingest_items(service, 3, clock.now)
    await factories.subscriber(service, "reader@example.org")
    first = await service.run_list("daily", clock.now)
    await service.sender.drain()
    second = await service.run_list("daily", clock.now)
    await service.sender.drain()
    assert first.action == "sending" and second.action == "exists"
    assert second.edition.id == first.edition.id
    assert len(smtp_server.received) == 1


async def test_stale_edition_waits_for_an_editor(service: Service, smtp_server: SMTPServer, clock: Clock) -> None:
    fire = clock.now
    await factories.ingest_items(service, 2, clock.now)
    await factories.subscriber(service, "reader@example.org")
    clock.advance(hours=3)  # the process was down past the 2-hour stale guard
    result = await service.run_list("daily", fire)
    await service.sender.drain()
    assert result.action == "held"
    assert result.edition.status == "held"
    assert smtp_server.received == []


async def test_edition_without_new_articles_is_not_sent(service: Service, smtp_server: SMTPServer, clock: Clock) -> None:
    await factories.subscriber(service, "reader@example.org")
    result = await service.run_list("daily", clock.now)
    assert result.action == "empty"
    await factories.ingest_items(service, 2, clock.now)
    await service.run_list("daily", clock.now)
    await service.sender.drain()
    clock.advance(days=1)
    # the next day's edition does not repeat yesterday's articles
    assert (await service.run_list("daily", clock.now)).action == "empty"
    assert len(smtp_server.received) == 0  # the first period was already decided: empty


async def test_premailer_runs_once_per_variant(
    service: Service, smtp_server: SMTPServer, clock: Clock, monkeypatch
) -> None:
    """premailer, the Jinja2 renders and the EmailMessage build happen once per edition variant;
    what is done per recipient is byte substitution into the variant's pre-built message."""
    import jinja2
    import premailer

    from mailer.compose import message

    calls: Counter[str] = Counter()

    def counting(name, original):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(premailer.Premailer, "transform", counting("premailer", premailer.Premailer.transform))
    monkeypatch.setattr(jinja2.Template, "render", counting("jinja2", jinja2.Template.render))
    monkeypatch.setattr(message, "build_message", counting("EmailMessage", message.build_message))
    monkeypatch.setattr(message.MessageTemplate, "personalise",
                        counting("personalise", message.MessageTemplate.personalise))
    await factories.ingest_items(service, 2, clock.now, section="سياسة")
    parsed = ingest.parse_feed(factories.rss([factories.item(9, clock.now, section="رياضة")]), now=clock.now)
    async with service.db.transaction() as session:
        await ingest.store(session, parsed.articles)
        sport = await ingest.section_id(session, "رياضة")
    for n in range(20):  # two variants: every section, and sport only
        await factories.subscriber(service, f"reader{n}@example.org", sections=[sport] if n % 2 else [])
    await service.run_list("daily", clock.now)
    assert (await service.sender.drain()) == {"sent": 20}
    # two variants: each rendered (subject, text, html), inlined and built once; 20 substitutions
    assert calls == {"premailer": 2, "jinja2": 2 * 3, "EmailMessage": 2, "personalise": 20}
    received = smtp_server.received
    assert len(received) == 20
    sport_only = [r for r in received if int(r.rcpt_tos[0].split("@")[0][6:]) % 2]
    assert all("عنوان الخبر رقم 1 عن" not in r.message.get_body(("html",)).get_content() for r in sport_only)
    assert all("عنوان الخبر رقم 9 عن" in r.message.get_body(("html",)).get_content() for r in received)
