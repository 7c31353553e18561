"""Hypothesis over the code that reads what anyone may send (issue 13): the feed parser, the CSV
importer, the address canonicaliser, the header builder and the token checks. Each either gives
a result of its kind or refuses with the service's own error: never another exception, never a
header smuggled in, never a forgery accepted."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailer.articles import ingest
from mailer.compose.message import Personal, Rendered, build_message, to_bytes
from mailer.core import message_ids
from mailer.core.errors import InvalidFeed, InvalidHeader
from mailer.core.headers import Identity
from mailer.core.lists import default_lists
from mailer.core.settings import load_settings
from mailer.core.signing import Keyring
from subscribers import importer
from subscribers.addresses import canonical, mailbox_key
from subscribers.tokens import Link, check, unsubscribe_token
from tests.support.factories import rss

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
RING = Keyring.of("a-signing-key-for-property-tests-" + "p" * 10)
INSTALLATION = "0a1b2c3d4e"
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
settings_ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings_
@given(st.binary(max_size=2000))
def test_the_feed_parser_reads_or_refuses_any_bytes(data: bytes) -> None:
    try:
        parsed = ingest.parse_feed(data, now=NOW)
    except InvalidFeed:
        return
    for article in parsed.articles:
        assert article.url.startswith(("http://", "https://")) and article.title


@settings_
@given(st.lists(st.fixed_dictionaries({}, optional={
    "title": text, "link": text, "guid": text, "pubDate": text, "description": text, "category": text,
}), max_size=4))
def test_the_feed_parser_keeps_what_it_can_of_any_entries(items: list[dict[str, str]]) -> None:
    from xml.sax.saxutils import escape

    data = rss([{k: escape(v) for k, v in item.items()} for item in items])
    try:
        parsed = ingest.parse_feed(data, now=NOW)
    except InvalidFeed:
        return
    assert len(parsed.articles) + len([p for p in parsed.problems if p.position.startswith("entry")]) <= len(items)
    for article in parsed.articles:
        assert datetime(1970, 1, 1, tzinfo=UTC) <= article.published_at < datetime(9000, 1, 1, tzinfo=UTC)


@settings_
@given(st.one_of(st.binary(max_size=600), text.map(lambda t: ("email,name,frequency\n" + t).encode())))
def test_the_csv_importer_reads_or_names_the_line_of_anything(data: bytes) -> None:
    parsed = importer.parse(data, sections={"سياسة": 1}, lists=default_lists("0 7 * * *", "0 7 * * 5"))
    assert all(problem.line >= 1 for problem in parsed.problems)
    keys = [row.address.key for row in parsed.rows]
    assert len(keys) == len(set(keys))  # one row per mailbox


addresses = st.one_of(st.emails(), text)


@settings_
@given(addresses)
def test_the_canonical_form_is_stable_and_ignores_case(address: str) -> None:
    once = canonical(address)
    assert canonical(once) == once
    if address.isascii():
        assert canonical(address.upper()) == canonical(address.lower()) == once


@settings_
@given(st.emails())
def test_the_mailbox_key_is_the_canonical_form(address: str) -> None:
    from mailer.core.errors import InvalidAddress
    from subscribers.addresses import check

    try:
        parsed = check(address)
    except InvalidAddress:
        return
    assert parsed.key == mailbox_key(parsed.normalized) == canonical(address)


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    s = load_settings(data_dir=tmp_path_factory.mktemp("d"), base_url="https://news.example.com",
                      sender_address="newsletter@news.example.com")
    return Identity.for_list(s, "daily")


@settings_
@given(subject=text, name=st.one_of(st.none(), text), to=st.one_of(st.emails(), text))
@example(subject="x", name=None, to="a:b:;;")  # a group in a group: CPython's parser raised AttributeError
@example(subject="x", name=None, to="a:<b:;>")
def test_the_header_builder_never_lets_a_header_in(identity: Identity, subject: str, name: str | None, to: str) -> None:
    content = Rendered(subject=subject, html="<p>نص</p>", text="نص\n")
    try:
        msg = build_message(content, identity, NOW, Personal(to=to, message_id="e1.s1", token="1.daily.x", name=name))
        data = to_bytes(msg)
    except (InvalidHeader, ValueError):
        return
    back = message_from_bytes(data, policy=policy.default)
    names = [n.lower() for n, _ in back.items()]
    assert sorted(set(names)) == sorted(names)  # each header once: nothing smuggled in by a line break
    assert set(names) <= {"from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe",
                          "list-unsubscribe-post", "mime-version", "content-type", "content-transfer-encoding",
                          "content-language", "feedback-id", "auto-submitted"}


@settings_
@given(st.text(max_size=120))
def test_no_message_id_but_ours_names_a_message(value: str) -> None:
    assert message_ids.what_of(RING, INSTALLATION, value) is None
    assert message_ids.what_of(RING, INSTALLATION, f"<{value}@news.example.com>") is None


@settings_
@given(st.from_regex(r"e[0-9]{1,6}\.s[0-9]{1,8}", fullmatch=True), st.integers(0, 60), st.characters(codec="ascii"))
def test_a_message_id_changed_anywhere_is_refused(what: str, position: int, char: str) -> None:
    local = message_ids.local_part(RING, INSTALLATION, what)
    assert message_ids.what_of(RING, INSTALLATION, f"<{local}@news.example.com>") == what
    assert message_ids.what_of(RING, "ffffffffff", f"<{local}@news.example.com>") is None  # another installation
    i = position % len(local)
    changed = local[:i] + char + local[i + 1:]
    if changed != local:
        assert message_ids.what_of(RING, INSTALLATION, f"<{changed}@news.example.com>") is None


@settings_
@given(st.integers(1, 10**12), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
                                       min_size=12, max_size=12))
def test_a_link_names_its_subscriber_and_link_key_only(subscriber: int, key: str) -> None:
    token = unsubscribe_token(RING, subscriber, "daily", key)
    link = check(RING, "unsubscribe", token)
    assert link == Link(subscriber, "daily", key) and link.opens(key)
    assert not link.opens(None) and not link.opens(key[::-1] if key[::-1] != key else key[1:] + "x")
