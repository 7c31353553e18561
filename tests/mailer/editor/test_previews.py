"""Previews are the sent message: the next edition rendered fresh by the sending code (and not
stored), a past edition read back from what was stored, per-reader variants, plugged-in kinds."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from mailer.articles import ingest
from mailer.compose.message import Personal, to_bytes
from mailer.core import message_ids
from mailer.core.errors import Conflict, InvalidAddress, NotFound
from mailer.core.headers import Identity
from mailer.core.models import Article, EditionVariant
from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.editions import curation
from mailer.editor.checks import part_text
from mailer.editor.previews import (
    TEST_HEADER,
    PreviewContext,
    Previews,
    TripletInput,
    TripletKind,
    default_kinds,
    recipients_count,
)
from subscribers import tokens
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer) -> Settings:
    """Previews show the links as written (a click in a preview or a test send is never counted);
    the sent mail's links go through /r/ by default (tests/mailer/web/test_tracking.py). These
    tests compare a preview with the mail byte for byte, so they send with tracking off."""
    return make_settings(database_url=database_url, smtp_url=smtp_server.url, tracking="off")

FIRE = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
BEFORE = FIRE - timedelta(hours=3)


def previews_for(service: Service, **kwargs) -> Previews:
    return Previews(service.settings, service.renderer, **kwargs)


async def stored_variants(service: Service) -> int:
    async with service.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(EditionVariant)) or 0)


def canonical(data: bytes) -> list[tuple[str, str]]:
    """Every header and every decoded part; only the random MIME boundary is left out."""
    msg = message_from_bytes(data, policy=policy.SMTP)
    out = [(k, str(v)) for k, v in msg.items() if k != "Content-Type"]
    out.append(("Content-Type", msg.get_content_type()))
    for part in msg.iter_parts():
        out.extend((k, str(v)) for k, v in part.items())
        out.append(("body", part.get_content()))
    return out


async def test_the_preview_is_what_the_reader_receives(
    service: Service, clock: Clock, smtp_server: SMTPServer
) -> None:
    clock.now = BEFORE
    await factories.ingest_items(service, 3, clock.now)
    reader = await factories.subscriber(service, "reader@example.org", name="أحمد O'Neil")
    previews = previews_for(service)
    preview = await previews.build(service.db, "digest", "daily", {"as": "reader@example.org"}, clock.now)
    assert await stored_variants(service) == 0  # a draft's preview is not the record of a send
    edition_id = preview.digest.edition_id
    async with service.db.transaction() as session:
        installation = await message_ids.installation_id(session)
    keyring = service.settings.keyring
    personal = Personal(  # what the sender fills in for this reader
        to="reader@example.org",
        message_id=message_ids.local_part(keyring, installation, f"e{edition_id}.s{reader.id}"),
        token=tokens.unsubscribe_token(keyring, reader.id, "daily", reader.link_key),
        pref_token=tokens.preferences_token(keyring, reader.id, reader.link_key), name=reader.name,
    )
    expected = to_bytes(preview.message(personal))

    clock.now = FIRE
    assert (await service.run_list("daily", FIRE)).edition.id == edition_id
    assert await service.sender.drain() == {"sent": 1}
    assert canonical(smtp_server.received[0].data) == canonical(expected)


async def test_a_past_edition_shows_what_was_sent(service: Service, clock: Clock, smtp_server: SMTPServer) -> None:
    await factories.ingest_items(service, 2, clock.now)
    reader = await factories.subscriber(service, "reader@example.org")
    result = await service.run_list("daily", clock.now)
    await service.sender.drain()
    sent_html = smtp_server.received[0].message.get_body(("html",)).get_content()
    keyring = service.settings.keyring
    for token in (tokens.unsubscribe_token(keyring, reader.id, "daily", reader.link_key),
                  tokens.preferences_token(keyring, reader.id, reader.link_key)):
        sent_html = sent_html.replace(token, "preview")  # previews carry links that lead nowhere
    # the article is corrected after the send: the past edition still shows what went out
    fixed = ingest.parse_feed(factories.rss([factories.item(1, clock.now, title="عنوان مصحَّح")]), now=clock.now)
    async with service.db.transaction() as session:
        await ingest.store(session, fixed.articles)
    previews = previews_for(service)
    past = await previews.build(service.db, "edition", str(result.edition.id), {}, clock.now)
    html = part_text(previews.shown(past), "html")
    assert past.digest.stored and past.digest.counts == {"sent": 1} and not past.digest.editable
    assert "عنوان الخبر رقم 1 عن العراق" in html and "عنوان مصحَّح" not in html
    assert html == sent_html
    with pytest.raises(NotFound):
        await previews.build(service.db, "edition", "9999", {}, clock.now)


async def test_a_reader_sees_their_sections_and_their_name(service: Service, clock: Clock) -> None:
    clock.now = BEFORE
    await factories.ingest_items(service, 2, clock.now, section="سياسة")
    sport = ingest.parse_feed(factories.rss([factories.item(30, clock.now, section="رياضة", title="خبر رياضي")]),
                              now=clock.now)
    async with service.db.transaction() as session:
        result = await ingest.store(session, sport.articles)
        sport_section = (await session.get(Article, result.ids[0])).section_id
    await factories.subscriber(service, "fan@example.org", name="ليلى", sections=[sport_section])
    await factories.subscriber(service, "all@example.org")
    previews = previews_for(service)

    everything = await previews.build(service.db, "digest", "daily", {}, clock.now)
    fan = await previews.build(service.db, "digest", "daily", {"as": "fan@example.org"}, clock.now)
    fan_html = part_text(previews.shown(fan), "html")
    assert "خبر رياضي" in fan_html and "عنوان الخبر رقم 1" not in fan_html
    assert "ليلى" in fan_html and "ليلى" in part_text(previews.shown(fan), "plain")
    assert previews.shown(fan)["To"] == "fan@example.org"
    assert "عنوان الخبر رقم 1" in part_text(previews.shown(everything), "html")
    assert everything.digest.recipients == 2
    assert [label for _, label in everything.digest.variants] == ["كل الأقسام", "سياسة", "رياضة"]

    async with service.db.transaction() as session:  # the sport article is dropped
        await curation.set_excluded(session, service.settings, fan.digest.edition_id,
                                    result.ids[0], True, "sara", clock.now)
    with pytest.raises(Conflict):  # nothing left for the fan in this edition
        await previews.build(service.db, "digest", "daily", {"as": "fan@example.org"}, clock.now)
    assert (await previews.build(service.db, "digest", "daily", {}, clock.now)).digest.recipients == 1
    with pytest.raises(NotFound):
        await previews.build(service.db, "digest", "daily", {"as": "nobody@example.org"}, clock.now)
    with pytest.raises(InvalidAddress):
        await previews.build(service.db, "digest", "daily", {"as": "not an address"}, clock.now)


async def test_the_recipients_of_a_list_are_counted_from_its_members_not_from_every_subscriber(
    service: Service,
) -> None:
    """SQLite's plan walks the list's range of ``subscriber_lists``' key and looks each member up;
    joined to ``subscribers`` it walked every confirmed subscriber, whatever the list (a list of
    one took a second among 2,000,000)."""
    if service.db.dialect != "sqlite":
        pytest.skip("the plan of SQLite's query planner; PostgreSQL's follows its statistics")
    (statement,) = recipients_count("weekly", frozenset({1, None}), "sqlite")
    async with service.db.transaction() as session:
        sql = str(statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = [row[-1] for row in await session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
    assert plan[0].startswith("SEARCH subscriber_lists") and "list_name=?" in plan[0], plan
    assert not any(line.startswith(("SCAN subscribers", "SEARCH subscribers USING COVERING INDEX ix_subscribers_status"))
                   for line in plan), plan


async def test_spamassassin_runs_once_for_the_same_preview(service: Service, clock: Clock, tmp_path: Path) -> None:
    """Each build of a message draws new MIME boundaries: keyed by its bytes, the cache of
    SpamAssassin's verdicts never hit, and every load of a preview page ran it (0.65 s)."""
    real = shutil.which("spamassassin")
    if real is None:
        pytest.skip("spamassassin is not installed (Debian package 'spamassassin')")
    runs = tmp_path / "runs"
    counting = tmp_path / "spamassassin"
    counting.write_text(f'#!/bin/sh\necho run >> "{runs}"\nexec "{real}" "$@"\n')
    counting.chmod(0o755)
    clock.now = BEFORE
    await factories.ingest_items(service, 2, clock.now)
    previews = Previews(service.settings.model_copy(update={"spamassassin_command": str(counting)}), service.renderer)
    messages = []
    for _ in range(3):
        preview = await previews.build(service.db, "digest", "daily", {}, clock.now)
        msg = previews.shown(preview, to="sara@example.org")
        checks = await previews.checks(preview, msg)
        assert "درجة SpamAssassin" in checks[-1].message
        messages.append(to_bytes(msg))
    assert len(set(messages)) == 3  # the boundaries differ each time
    assert runs.read_text().splitlines() == ["run"]
    await previews.checks(preview, previews.shown(preview, to="omar@example.org"))  # another message: scored
    assert runs.read_text().splitlines() == ["run", "run"]


async def test_recipients_are_the_confirmed_subscribers_of_the_list(service: Service, clock: Clock) -> None:
    clock.now = BEFORE
    await factories.ingest_items(service, 1, clock.now)
    for n in range(3):
        await factories.subscriber(service, f"daily{n}@example.org")
    await factories.subscriber(service, "weekly@example.org", lists=("weekly",))
    await factories.subscriber(service, "pending@example.org", status="pending")
    await factories.subscriber(service, "paused@example.org", status="paused")
    preview = await previews_for(service).build(service.db, "digest", "daily", {}, clock.now)
    assert preview.digest.recipients == 3
    assert "07:00" in preview.digest.scheduled_text and "Asia/Baghdad" in preview.digest.scheduled_text


async def test_a_big_digest_is_flagged_before_gmail_clips_it(
    make_settings, database_url: str, smtp_server: SMTPServer, clock: Clock
) -> None:
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, max_articles=100)
    service = await Service(settings, clock=clock).start()
    try:
        clock.now = BEFORE
        long_summary = "<p>" + "إلتقت القوات العراقية المشتركة بالجيش السوري على الحدود. " * 30 + "</p>"
        items = []
        for n in range(1, 101):  # compact items keep a short summary: it takes many
            item = factories.item(n, clock.now)
            item["description"] = long_summary.replace("<", "&lt;").replace(">", "&gt;")
            items.append(item)
        parsed = ingest.parse_feed(factories.rss(items), now=clock.now)
        async with service.db.transaction() as session:
            await ingest.store(session, parsed.articles)
        previews = previews_for(service)
        preview = await previews.build(service.db, "digest", "daily", {}, clock.now)
        checks = {c.name: c for c in await previews.checks(preview, previews.shown(preview), spam=False)}
        assert len(part_text(previews.shown(preview), "html").encode()) > 100 * 1024
        assert checks["size"].level == "warn"
    finally:
        await service.close()


async def test_a_test_send_is_marked_and_is_not_an_edition_send(
    service: Service, clock: Clock, smtp_server: SMTPServer
) -> None:
    clock.now = BEFORE
    await factories.ingest_items(service, 2, clock.now)
    previews = previews_for(service)
    preview = await previews.build(service.db, "digest", "daily", {}, clock.now)
    data, message_id = previews.test_message(preview, to="sara@news.example.com", editor="sara", now=clock.now)
    async with service.db.transaction() as session:
        await outbox.enqueue(session, outbox.message_row(kind="test", recipient="sara@news.example.com", payload=data,
                                     message_id=message_id, now=clock.now))
    assert await service.sender.drain() == {"sent": 1}
    msg = smtp_server.received[0].message
    assert msg[TEST_HEADER] == "test send requested by editor sara" and msg["Message-ID"] == message_id
    assert msg["To"] == "sara@news.example.com" and msg["Date"] and msg["List-Unsubscribe"]
    assert msg.get_body(("html",)).get_content() == part_text(previews.shown(preview), "html")
    async with service.db.transaction() as session:
        assert await outbox.counts(session) == {}
    assert await stored_variants(service) == 0


async def test_other_kinds_plug_in_with_a_few_lines(
    make_settings, database_url: str, smtp_server: SMTPServer, clock: Clock, tmp_path: Path
) -> None:
    email = tmp_path / "templates" / "email"
    email.mkdir(parents=True)
    (email / "sample.subject.txt").write_text("خبر من صديقك: {{ article.title }}\n")
    (email / "sample.txt").write_text("{{ sender }} يرسل إليك: {{ article.title }}\n{{ article.url }}\n")
    (email / "sample.html").write_text(
        '{% extends "email/base.html" %}{% block content %}<tr><td dir="rtl" align="right">'
        '<p>{{ sender }} يرسل إليك:</p><a href="{{ article.url }}">{{ article.title }}</a></td></tr>{% endblock %}'
    )
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, templates_dir=tmp_path / "templates")
    service = await Service(settings, clock=clock).start()
    try:
        async def inputs(ctx: PreviewContext, ref: str) -> TripletInput:
            return TripletInput(
                title=f"مشاركة الخبر {ref}",
                context={"article": {"title": f"خبر رقم {ref}", "url": f"https://news.example.com/news/{ref}"},
                         "sender": "صديق", "preheader": "خبر من صديق"},
                identity=Identity.for_list(ctx.settings, "share"),
            )

        previews = previews_for(service, kinds=[*default_kinds(), TripletKind("sample", "تجربة", inputs)])
        preview = await previews.build(service.db, "sample", "42", {}, clock.now)
        msg = previews.shown(preview)
        assert str(msg["Subject"]) == "خبر من صديقك: خبر رقم 42" and msg["List-Id"] is None
        assert 'dir="rtl"' in part_text(msg, "html") and "خبر رقم 42" in part_text(msg, "plain")
        checks = {c.name: c for c in await previews.checks(preview, msg, spam=False)}
        assert checks["unsubscribe"].level == "info" and checks["https"].level == "ok"
        with pytest.raises(NotFound) as unknown:
            await previews_for(service).build(service.db, "sample", "42", {}, clock.now)
        assert "غير متاحة بعد" in unknown.value.public_message
    finally:
        await service.close()


async def test_share_and_notice_previews_are_the_mail_their_senders_compose(
    service: Service, clock: Clock, smtp_server: SMTPServer
) -> None:
    from mailer.shares import mail

    await factories.ingest_items(service, 1, clock.now)
    previews = previews_for(service)
    share = await previews.build(service.db, "share", "1", {}, clock.now)
    shown = previews.shown(share)
    async with service.db.transaction() as session:
        article = await session.get(Article, 1)
    expected = mail.preview_share(service.settings, service.renderer, mail.article_view(article, "سياسة"),
                                        date=share.date, recipient=shown["To"].addresses[0].addr_spec)
    assert part_text(shown, "html") == part_text(expected, "html")
    assert shown["From"].addresses[0].addr_spec == service.settings.sender_address
    assert "https://news.example.com/news/1" in part_text(shown, "plain")
    checks = {c.name: c for c in await previews.checks(share, shown, spam=False)}
    assert checks["https"].level == "ok" and checks["alt"].level == "ok"

    data, message_id = previews.test_message(share, to="sara@news.example.com", editor="sara", now=clock.now)
    async with service.db.transaction() as session:
        await outbox.enqueue(session, outbox.message_row(kind="test", recipient="sara@news.example.com", payload=data,
                                     message_id=message_id, now=clock.now))
    assert await service.sender.drain() == {"sent": 1}
    assert smtp_server.received[0].message[TEST_HEADER] == "test send requested by editor sara"

    for kind, words in (("confirm", "أكّد"), ("welcome", "أهلاً")):
        notice = previews.shown(await previews.build(service.db, kind, "weekly", {}, clock.now))
        assert words in str(notice["Subject"]) + part_text(notice, "plain"), kind
        assert 'dir="rtl"' in part_text(notice, "html")
    with pytest.raises(NotFound):
        await previews.build(service.db, "share", "404", {}, clock.now)
