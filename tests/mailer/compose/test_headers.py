"""Headers every decoder reads as written (issue 14, point 2) and the headers big senders add
(point 12): Content-Language, Auto-Submitted on notices, Feedback-ID on bulk mail."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.compose import notices
from mailer.compose.message import SLOTS, MessageTemplate, Personal, Rendered, build_message, to_bytes
from mailer.compose.render import Renderer
from mailer.core.errors import InvalidHeader
from mailer.core.headers import Identity
from mailer.core.settings import Settings, load_settings
from tests.support import samples

DATE = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
READER = Personal(to="reader@example.org", message_id="e1.s1", token="t", pref_token="p", name="سارة")

arabic_words = st.text(alphabet="ابتثجحخدذرزسشصضطظعغفقكلمنهويءأإآةىئؤ،؟«»", min_size=1, max_size=12)
latin_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789'().:-%#/", min_size=1, max_size=12)
mixed = st.lists(st.one_of(arabic_words, latin_words), min_size=1, max_size=24).map(" ".join)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(data_dir=tmp_path_factory.mktemp("d"), base_url="https://news.example.com",
                         sender_address="newsletter@news.example.com")


def decoded(data: bytes, name: str) -> tuple[str, str]:
    """The header as the ``email`` package reads it, and as a plain RFC 2047 decoder does."""
    msg = message_from_bytes(data, policy=policy.default)
    raw = message_from_bytes(data, policy=policy.compat32)[name]
    return str(msg[name]), str(make_header(decode_header(raw)))


def headers(data: bytes) -> list[tuple[str, str]]:
    return [(k, v) for k, v in message_from_bytes(data, policy=policy.default).items() if k != "Content-Type"]


def both_paths(rendered: Rendered, identity: Identity) -> list[bytes]:
    return [
        MessageTemplate.build(rendered, identity, DATE).personalise(READER),
        to_bytes(build_message(rendered, identity, DATE, READER)),
    ]


def test_the_space_between_a_latin_and_an_arabic_word_survives(base: Settings) -> None:
    subject = "خبر من أخبار الموقع: Apple تكشف عن هاتف جديد بسعر 999 دولاراً في سبتمبر"
    identity = Identity.for_list(base, "daily")
    for data in both_paths(Rendered(subject, "<p>x</p>", "x"), identity):
        assert decoded(data, "Subject") == (subject, subject)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=mixed, display=mixed)
def test_any_mix_of_arabic_and_latin_words_round_trips(base: Settings, subject: str, display: str) -> None:
    identity = Identity.for_list(base.model_copy(update={"sender_name": display}), "daily")
    for data in both_paths(Rendered(subject, "<p>x</p>", "x"), identity):
        assert all(len(line) <= 998 for line in data.split(b"\r\n"))
        assert decoded(data, "Subject") == (subject, subject)
        msg = message_from_bytes(data, policy=policy.default)
        assert msg["From"].addresses[0].display_name == display
        assert msg["From"].addresses[0].addr_spec == "newsletter@news.example.com"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=mixed, name=st.one_of(st.none(), mixed))
def test_a_subject_with_the_readers_name_is_the_same_on_both_paths(
    base: Settings, words: str, name: str | None
) -> None:
    identity = Identity.for_list(base, "daily")
    rendered = Rendered(f"{words}{SLOTS['name_text']}", "<p>x</p>", "x")
    personal = Personal(to="reader@example.org", message_id="e1.s1", token="t", pref_token="p", name=name)
    fast = MessageTemplate.build(rendered, identity, DATE).personalise(personal)
    slow = to_bytes(build_message(rendered, identity, DATE, personal))
    expected = words + (f" {name.strip()}" if name and name.strip() else "")
    assert decoded(fast, "Subject") == decoded(slow, "Subject") == (expected, expected)


def test_headers_of_each_kind(base: Settings, tmp_path: Path) -> None:
    renderer = Renderer(base)
    identity = Identity.for_list(base, "daily")
    made = {
        "digest": samples.digest(base, samples.articles(3)),
        "share": samples.share(base, samples.articles(1)[0]),
    }
    for kind, make in notices.RENDERERS.items():  # the notifier's own paths: fast and reference
        rendered = make(renderer, identity, None)
        built = MessageTemplate.build(rendered, identity, DATE, kind=kind, list_headers=notices.LIST_HEADERS[kind])
        made[kind] = built.personalise(READER)
        reference = to_bytes(build_message(rendered, identity, DATE, READER, kind=kind,
                                           list_headers=notices.LIST_HEADERS[kind]))
        assert headers(made[kind]) == headers(reference)
    for kind, data in made.items():
        msg = message_from_bytes(data, policy=policy.default)
        assert msg["Content-Language"] == "ar", kind
        # RFC 3834: mail sent because someone asked for it, which no auto-responder must answer
        assert (msg["Auto-Submitted"] == "auto-generated") == (kind in ("confirm", "confirm_address", "welcome")), kind
        # Gmail's feedback loop, per list and kind of bulk mail: list:kind:sender
        bulk = kind in ("digest", "welcome")
        expected = f"daily:{kind}:news.example.com" if bulk else None
        assert msg["Feedback-ID"] == expected, kind
        assert (msg["List-Unsubscribe"] is not None) == (bulk or kind == "share"), kind


@pytest.mark.parametrize(("to", "reply_to"), [("<", None), ("a <", None), ('"a" <', None),
                                              ("reader@example.org", "x <")])
def test_an_address_the_email_package_cannot_parse_is_refused_naming_its_field(
    base: Settings, to: str, reply_to: str | None
) -> None:
    """CPython's header parser raises IndexError on an unclosed "<" (found by the hostile-input
    property test); the builder answers with the project's error instead."""
    identity = Identity.for_list(base, "daily")
    rendered = Rendered(subject="موضوع", html="<p>نص</p>", text="نص\n")
    personal = Personal(to=to, message_id="e1.s1", token="t", pref_token="p", name=None)
    with pytest.raises(InvalidHeader) as caught:
        build_message(rendered, identity, DATE, personal, reply_to=reply_to)
    assert caught.value.field == ("reply_to" if reply_to else "to")
