"""Tracked links, pure: a variant's HTML links rewritten to signed /r/ links that can only lead
where they were written to lead; the personal links, mailto: and the text part left alone; the
per-reader slot filled per recipient, nothing per recipient otherwise."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.compose import tracking
from mailer.compose.message import SLOTS, MessageTemplate, Personal, Rendered
from mailer.compose.tracking import Tracker
from mailer.core.errors import InvalidToken
from mailer.core.headers import Identity
from mailer.core.settings import load_settings
from mailer.core.signing import Keyring

RING = Keyring.of("k" * 40)
OTHER = Keyring.of("z" * 40)
BASE = "https://news.example.com"
ARTICLE = "https://site.example.com/news/17?id=3&utm_source=x"
HTML = (
    '<html><body><a href="https://site.example.com/news/17?id=3&amp;utm_source=x">خبر</a>'
    '<a href="https://site.example.com/">الموقع</a>'
    f'<a href="{BASE}/u/{SLOTS["token"]}">إلغاء الاشتراك</a>'
    f'<a href="{BASE}/p/{SLOTS["pref"]}">تعديل تفضيلاتك</a>'
    '<a href="mailto:desk@site.example.com">راسلنا</a><a href="#top">أعلى</a></body></html>'
)
TEXT = f"خبر: {ARTICLE}\nإلغاء الاشتراك: {BASE}/u/{SLOTS['token']}\n"


def tracker(**kw: object) -> Tracker:
    values: dict[str, object] = {"keyring": RING, "base_url": BASE, "edition_id": 7, "since": 1_800_000_000,
                                 "articles": {ARTICLE: 17}}
    values.update(kw)
    return Tracker(**values)  # type: ignore[arg-type]


def hrefs(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]*)"', html)]


def test_article_and_site_links_are_tracked_the_personal_links_and_mailto_are_not() -> None:
    out = tracking.rewrite_html(HTML, tracker())
    links = hrefs(out)
    assert links[0].startswith(f"{BASE}/r/") and links[1].startswith(f"{BASE}/r/")
    assert links[2:] == [f"{BASE}/u/{SLOTS['token']}", f"{BASE}/p/{SLOTS['pref']}",
                         "mailto:desk@site.example.com", "#top"]
    for link, target, article in ((links[0], ARTICLE, 17), (links[1], "https://site.example.com/", 0)):
        parts = urlsplit(link)
        assert parse_qs(parts.query)["u"] == [target]
        click = tracking.check_link(RING, parts.path.removeprefix("/r/"), target)
        assert (click.edition_id, click.article_id, click.since) == (7, article, 1_800_000_000)
    assert "<img" not in out  # no pixel unless MAILER_TRACK_OPENS


def test_the_text_part_and_tracking_off_leave_everything_as_it_was() -> None:
    rendered = Rendered("موضوع", HTML, TEXT)
    assert tracking.track(rendered, None) is rendered
    tracked = tracking.track(rendered, tracker())
    assert tracked.text == TEXT and tracked.subject == "موضوع" and tracked.html != HTML


@pytest.mark.parametrize("change", ["target", "token", "purpose", "key", "cut"])
def test_a_link_that_was_not_made_for_this_target_is_refused(change: str) -> None:
    token = tracking.link_token(RING, 7, 17, 1_800_000_000, ARTICLE)
    target = ARTICLE
    if change == "target":
        target = "https://evil.example.net/"
    elif change == "token":
        token = token[:-1] + ("A" if token[-1] != "A" else "B")
    elif change == "purpose":
        token = RING.sign("open", f"7.17.1800000000.{tracking.url_digest(ARTICLE)}")
    elif change == "key":
        token = tracking.link_token(OTHER, 7, 17, 1_800_000_000, ARTICLE)
    else:
        token = token[:20]
    with pytest.raises(InvalidToken):
        tracking.check_link(RING, token, target)


@settings(max_examples=60, deadline=None)
@given(path=st.text(min_size=0, max_size=60), other=st.text(min_size=1, max_size=60))
def test_any_target_round_trips_and_no_other_target_passes(path: str, other: str) -> None:
    url = f"https://site.example.com/{path}"
    token = tracking.link_token(RING, 3, 0, 5, url)
    assert tracking.check_link(RING, token, url).edition_id == 3
    if url + other != url:
        with pytest.raises(InvalidToken):
            tracking.check_link(RING, token, url + other)


def test_a_reader_token_names_its_subscriber_for_its_edition_only() -> None:
    token = tracking.reader_token(RING, 7, 42)
    assert tracking.check_reader(RING, token, 7) == 42
    with pytest.raises(InvalidToken):
        tracking.check_reader(RING, token, 8)
    with pytest.raises(InvalidToken):
        tracking.check_reader(RING, token[:-2] + "xx", 7)


def _links_of(data: bytes) -> list[str]:
    from email import message_from_bytes, policy

    msg = message_from_bytes(data, policy=policy.default)
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    found = hrefs(html) + re.findall(r'<img src="([^"]*)"', html)
    return [h for h in found if "/r/" in h or "/o/" in h]


def _template(per_reader: bool) -> MessageTemplate:
    settings = load_settings(None, secret_key="k" * 40, base_url=BASE, sender_address="n@news.example.com")
    rendered = tracking.track(Rendered("موضوع", HTML, TEXT), tracker(per_reader=per_reader, opens=True))
    return MessageTemplate.build(rendered, Identity.for_list(settings, "daily"), datetime(2026, 12, 1, tzinfo=UTC))


def _personal(n: int, reader: str = "") -> Personal:
    return Personal(to=f"r{n}@example.org", message_id=f"m{n}", token=f"t{n}", pref_token=f"p{n}", reader=reader)


def test_aggregate_links_are_the_same_for_every_recipient() -> None:
    template = _template(per_reader=False)
    first, second = (_links_of(template.personalise(_personal(n))) for n in (1, 2))
    assert first == second and len(first) == 3  # two links and the pixel
    assert not any(SLOTS["reader"] in link for link in first)


def test_per_reader_links_carry_each_recipients_reader_token() -> None:
    template = _template(per_reader=True)
    tokens = {n: tracking.reader_token(RING, 7, n) for n in (1, 2)}
    links = {n: _links_of(template.personalise(_personal(n, tokens[n]))) for n in (1, 2)}
    assert links[1] != links[2]
    for n, found in links.items():
        assert len(found) == 3
        for link in found:
            path = urlsplit(link).path
            assert path.endswith(f"/{tokens[n]}")
            assert tracking.check_reader(RING, path.rsplit("/", 1)[1], 7) == n
