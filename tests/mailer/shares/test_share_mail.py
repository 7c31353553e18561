"""The share e-mail as a pure function: what an editor preview and the sender both get."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailer.compose.message import to_bytes
from mailer.compose.render import ArticleView, Renderer
from mailer.core.errors import InvalidHeader
from mailer.core.settings import Settings
from mailer.shares.mail import compose_share, preview_share, render_share, share_identity

DATE = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
ARTICLE = ArticleView(
    id=12, title="سرايا الجهاد لوكالة ارنا (IRNA): الساعات القادمة ستشهد تحرير القائم",
    url="https://news.example.com/news/12", summary="ملخص الخبر mailerslottozq@mailerslot.invalid mailersharenotetextzq",
    image_url="https://news.example.com/12.jpg", section="العراق",
)


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


def test_preview_needs_no_database_or_network(settings: Settings) -> None:
    msg = preview_share(settings, Renderer(settings), ARTICLE, date=DATE, sender_name="سارة",
                        recipient="friend@example.org", note="اقرأ هذا")
    assert msg["From"].addresses[0].addr_spec == settings.sender_address
    assert str(msg["To"]) == "friend@example.org"
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert '<html dir="rtl" lang="ar">' in html
    assert "أرسل إليك سارة هذا الخبر" in text and "«اقرأ هذا»" in text
    assert "https://news.example.com/news/12" in text
    # slot markers inside the article cannot pull in the recipient's address or the note
    assert "friend@example.org" not in html and "friend@example.org" not in text
    assert "mailerslot" not in html + text and "mailersharenote" not in html + text
    assert b"\r\nList-Unsubscribe: <https://news.example.com/share/stop/" in to_bytes(msg)


def test_header_injection_through_composition_is_refused(settings: Settings) -> None:
    identity = share_identity(settings)
    content = render_share(Renderer(settings), identity, ARTICLE, with_note=False)
    for bad in ({"recipient": "a@example.org\r\nBcc: b@example.org"}, {"stop": "x\r\nBcc: b@example.org"},
                {"message_id": "m\r\nBcc: b"}):
        values = {"recipient": "a@example.org", "stop": "tok", "message_id": "m", **bad}
        with pytest.raises(InvalidHeader):
            compose_share(content, identity, sender_name="أحمد", date=DATE, **values)


def test_subject_is_the_site_and_the_title_starting_right_to_left(settings: Settings) -> None:
    msg = preview_share(settings, Renderer(settings), ARTICLE, date=DATE)
    assert str(msg["Subject"]) == f"خبر من {settings.site_name}: {ARTICLE.title}"
