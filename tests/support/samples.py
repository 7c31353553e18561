"""Real mail of every kind made from the site's own article (``mailer/articles/demo_data``) by
the project's renderer, premailer and MIME code, for browser tests, spam scores and the README's
gallery (``bench/gallery.py``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from mailer.articles import demo
from mailer.compose import notices
from mailer.compose.message import MessageTemplate, Personal, build_message, to_bytes
from mailer.compose.render import ArticleView, DigestView, Renderer
from mailer.core.headers import Identity
from mailer.core.settings import Settings
from mailer.shares.mail import preview_share
from tests.support.images import IMAGE_HOST

DATE = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
SITE = "https://news.example.com"
READER = Personal(to="reader@example.org", message_id="e1.s1", token="1.daily.tokentokentokentokent",
                  pref_token="1.pref.tokentokentokentokent", name="سارة")


def articles(count: int = 5, *, without_image: tuple[int, ...] = (3,)) -> tuple[ArticleView, ...]:
    """``count`` articles with the site's headlines and paragraphs, all with a photo but those
    at the positions in ``without_image``."""
    paragraphs = demo.paragraphs()
    out = []
    for n in range(count):
        title, section, para = demo.ITEMS[n % len(demo.ITEMS)]
        if n >= len(demo.ITEMS):  # more headlines: the first words of the site's paragraphs
            title = " ".join(paragraphs[(3 * n) % len(paragraphs)].split()[: 6 + n % 7]).rstrip("،.:")
        out.append(ArticleView(
            id=n + 1, title=title, url=f"{SITE}/news/{1001 + n}", summary=paragraphs[(para + n) % len(paragraphs)],
            image_url=None if n in without_image else f"{IMAGE_HOST}{1001 + n}.jpg", section=section,
        ))
    return tuple(out)


def parse(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def digest(settings: Settings, items: tuple[ArticleView, ...], *, day: date = DATE.date(),
           personal: Personal = READER) -> bytes:
    """A digest as the sender makes it: rendered once, built once, personalised by slots."""
    identity = Identity.for_list(settings, "daily")
    view = DigestView("daily", day, items, site_url=settings.site_url or SITE, web_url=identity.web_url(1),
                      archive_url=identity.archive_url(), subject_style=settings.digest_subject_for("daily"))
    rendered = Renderer(settings).digest(view, identity)
    return MessageTemplate.build(rendered, identity, DATE).personalise(personal)


def share(settings: Settings, article: ArticleView, *, sender_name: str = "Sara O'Neil") -> bytes:
    return to_bytes(preview_share(settings, Renderer(settings), article, date=DATE, sender_name=sender_name))


def welcome(settings: Settings) -> bytes:
    identity = Identity.for_list(settings, "daily")
    rendered = notices.welcome_rendered(Renderer(settings), identity, SITE)
    return to_bytes(build_message(rendered, identity, DATE, READER, kind="welcome"))


def html_of(data: bytes) -> str:
    part = parse(data).get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_of(data: bytes) -> str:
    part = parse(data).get_body(("plain",))
    assert part is not None
    return str(part.get_content())
