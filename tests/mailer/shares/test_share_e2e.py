"""A reader shares an article over HTTP; the friend gets it from a real SMTP server."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser

from sqlalchemy import select

from mailer.core.models import Article, ShareOptOut
from subscribers.suppression import address_hash
from tests.mailer.shares.conftest import ARABIC, Harness
from tests.support import factories

ShareApp = Callable[..., Awaitable[Harness]]
URL_IN_TEXT = re.compile(r"https?://[^\s<>\"»«]+")


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def urls(self) -> set[str]:
        return {v for _, attrs in self.tags for k, v in attrs.items() if k in ("href", "src", "action") and v}


async def test_friend_gets_rtl_arabic_mail_with_canonical_link_from_the_site(share_app: ShareApp) -> None:
    h = await share_app(site_url="https://www.news.example.com/")
    article_id = await h.article()

    page = await h.client.get(h.form_path(article_id))
    assert page.status_code == 200
    assert '<html dir="rtl" lang="ar">' in page.text and "<script" not in page.text  # works without JS
    for name in ("article_id", "form_token", "friend_email", "sender_name", "sender_email", "website"):
        assert f'name="{name}"' in page.text
    assert 'action="/share"' in page.text

    reply = await h.share(article_id, friend_email="Friend@Example.org", sender_name="Sara O'Neil",
                          sender_email="sara@elsewhere.example")
    assert reply.status_code == 202, reply.text
    assert "أرسلنا الخبر" in reply.text

    received = await h.deliver()
    assert len(received) == 1
    envelope = received[0]
    # the envelope sender is the site's VERP bounce address, never the reader's
    assert envelope.mail_from.startswith("bounces+") and envelope.mail_from.endswith("@news.example.com")
    assert envelope.rcpt_tos == ("Friend@example.org",)
    msg = envelope.message
    site = "https://news.example.com"
    canonical = f"{site}/news/{article_id}"

    # headers: From is the site; nothing the reader typed is in any header
    assert msg["From"].addresses[0].addr_spec == "newsletter@news.example.com"
    assert msg["From"].addresses[0].display_name == "أخبار الموقع"
    assert msg["Reply-To"] is None and msg["Sender"] is None and msg["Cc"] is None and msg["Bcc"] is None
    assert str(msg["To"]) == "Friend@example.org"
    assert ARABIC.match(str(msg["Subject"]))
    header_text = "\n".join(f"{k}: {v}" for k, v in msg.items())
    for typed in ("Sara", "Neil", "sara@elsewhere.example", "elsewhere"):
        assert typed not in header_text
    stop = re.fullmatch(rf"<({site}/share/stop/[0-9a-f]{{64}}\.[A-Za-z0-9_-]{{26}})>", str(msg["List-Unsubscribe"]))
    assert stop, msg["List-Unsubscribe"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Message-ID"].endswith("@news.example.com>")

    # the HTML part: RTL, the article, the sender line, why it came and how to stop it
    html = msg.get_body(("html",)).get_content()
    links = Links()
    links.feed(html)
    html_tag = next(attrs for tag, attrs in links.tags if tag == "html")
    assert html_tag == {"dir": "rtl", "lang": "ar"}
    assert all(attrs.get("dir") == "rtl" for tag, attrs in links.tags if tag == "table")
    assert "text-align:right" in html
    assert f"عنوان الخبر رقم {article_id}" in html
    assert f'href="{canonical}"' in html
    assert f'src="{site}/images/{article_id}.jpg"' in html
    assert 'أرسل إليك <span dir="ltr">Sara O&#x27;Neil</span> هذا الخبر' in html  # isolated whole
    assert "لماذا وصلتك هذه الرسالة" in html and "إيقاف الأخبار المرسلة إليّ من القرّاء" in html
    # no URL that the reader could choose: only the article's, its image, the site's home page
    # (MAILER_SITE_URL) and the stop link
    allowed = {canonical, f"{site}/images/{article_id}.jpg", "https://www.news.example.com/", stop.group(1)}
    assert links.urls() == allowed

    text = msg.get_body(("plain",)).get_content()
    assert "أرسل إليك Sara O'Neil هذا الخبر" in text
    assert f"اقرأ الخبر كاملاً: {canonical}" in text
    assert set(URL_IN_TEXT.findall(text)) == {canonical, "https://www.news.example.com/", stop.group(1)}

    # the record keeps a hash, never the address
    records = await h.records()
    assert [(r.article_id, r.outcome) for r in records] == [(article_id, "queued")]
    assert records[0].recipient_hash == address_hash("friend@example.org")
    assert records[0].outbox_id is not None
    assert all("friend" not in str(v) for r in records for v in vars(r).values())


async def test_json_share_and_reply_to_only_for_a_confirmed_subscriber(share_app: ShareApp) -> None:
    h = await share_app()
    article_id = await h.article(image=False)
    await factories.subscriber(h.svc, "member@example.net", name="عضو")
    await factories.subscriber(h.svc, "waiting@example.net", status="pending")

    first = await h.share(article_id, as_json=True, friend_email="one@example.org", sender_email="member@example.net")
    second = await h.share(article_id, as_json=True, friend_email="two@example.org", sender_email="waiting@example.net")
    assert first.status_code == second.status_code == 202
    assert first.json()["status"] == "queued"

    by_rcpt = {r.rcpt_tos[0]: r.message for r in await h.deliver()}
    assert str(by_rcpt["one@example.org"]["Reply-To"]) == "member@example.net"
    assert by_rcpt["two@example.org"]["Reply-To"] is None
    assert "<img" not in by_rcpt["one@example.org"].get_body(("html",)).get_content()


async def test_stop_link_page_then_one_click_stops_shares_to_that_mailbox(share_app: ShareApp) -> None:
    h = await share_app()
    first, second = await h.article(), await h.article()
    assert (await h.share(first)).status_code == 202
    msg = (await h.deliver())[0].message
    path = re.search(r"<https://news\.example\.com(/share/stop/[^>]+)>", msg["List-Unsubscribe"]).group(1)

    page = await h.client.get(path)
    assert page.status_code == 200 and "أوقف هذه الرسائل" in page.text
    async with h.svc.db.transaction() as session:
        assert (await session.scalars(select(ShareOptOut))).all() == []  # a GET changes nothing

    forged = await h.client.post(path[:-3] + "AAA", content=b"List-Unsubscribe=One-Click")
    assert forged.status_code == 400
    for _ in range(2):  # RFC 8058: 200, no redirect, idempotent
        done = await h.client.post(path, content=b"List-Unsubscribe=One-Click",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert done.status_code == 200 and "لن تصلك" in done.text

    for address in ("friend@example.org", "Friend+news@example.org"):
        reply = await h.share(second, friend_email=address)
        assert reply.status_code == 400
        assert "لا يمكننا إرسال الأخبار إلى هذا العنوان" in reply.text
    assert [r.outcome for r in await h.records()] == ["queued", "opted_out", "opted_out"]
    assert len(await h.deliver()) == 1


async def test_subscriber_who_turned_shares_off_gets_none(share_app: ShareApp) -> None:
    h = await share_app()
    article_id = await h.article()
    sub = await factories.subscriber(h.svc, "quiet@example.org")
    async with h.svc.db.transaction() as session:
        (await session.get(type(sub), sub.id)).no_shares = True
    await h.assert_refused(await h.share(article_id, friend_email="quiet@example.org"), 400, "opted_out")


async def test_premailer_runs_once_per_article_not_per_share(share_app: ShareApp, monkeypatch) -> None:
    import premailer

    calls = []
    original = premailer.Premailer.transform

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(premailer.Premailer, "transform", counting)
    h = await share_app()
    article_id = await h.article()
    for n in range(4):
        assert (await h.share(article_id, friend_email=f"friend{n}@example.org", sender_name=f"قارئ {n}")).status_code == 202
    assert len(calls) == 1
    received = await h.deliver()
    assert len(received) == 4
    assert {f"أرسل إليك قارئ {n} هذا الخبر" for n in range(4)} == {
        re.search(r"أرسل إليك قارئ \d هذا الخبر", r.message.get_body(("plain",)).get_content()).group(0)
        for r in received
    }

    # an edited article is rendered again, once
    async with h.svc.db.transaction() as session:
        article = await session.get(Article, article_id)
        article.title, article.content_hash = "عنوان معدّل", "edited"
    assert (await h.share(article_id, friend_email="late@example.org")).status_code == 202
    assert len(calls) == 2
    assert "عنوان معدّل" in (await h.deliver())[-1].message.get_body(("plain",)).get_content()
