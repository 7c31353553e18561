"""Composing: the per-recipient fast path gives the same message as the reference path."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.compose.message import SLOTS, MessageTemplate, Personal, Rendered, _Base64Splice, build_message, to_bytes
from mailer.core.errors import InvalidHeader, SettingsError
from mailer.core.headers import Identity
from mailer.core.settings import load_settings
from mailer.delivery.transport import wire_format

DATE = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
SLOT_NAMES = [n for n in SLOTS if n not in ("to", "msgid")]


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("d"), base_url="https://news.example.com",
        sender_address="newsletter@news.example.com",
    )
    return Identity.for_list(settings, "daily")


def rendered(body: str) -> Rendered:
    return Rendered(
        subject="أخبار الموقع: النشرة اليومية",
        html=f'<html dir="rtl"><body><p>مرحباً{SLOTS["name_html"]}</p>{body}'
             f'<a href="https://news.example.com/u/{SLOTS["token"]}">إلغاء</a></body></html>',
        text=f"مرحباً{SLOTS['name_text']}\n{body}\nإلغاء: https://news.example.com/u/{SLOTS['token']}\n",
    )


def parts(data: bytes) -> dict[str, object]:
    msg = message_from_bytes(data, policy=policy.default)
    out: dict[str, object] = {h: str(msg[h]).strip() for h in
                              ("From", "To", "Subject", "Message-ID", "List-Id", "List-Unsubscribe", "Date")}
    out["text"] = msg.get_body(("plain",)).get_content()
    out["html"] = msg.get_body(("html",)).get_content()
    return out


names = st.one_of(st.none(), st.text(min_size=0, max_size=40))
bodies = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, body=bodies, msgid=st.from_regex(r"e[0-9]{1,6}\.s[0-9]{1,8}", fullmatch=True))
def test_fast_path_equals_reference(identity: Identity, name: str | None, body: str, msgid: str) -> None:
    content = rendered(body)
    personal = Personal(to="reader+tag@example.org", message_id=msgid, token="12.daily.abcDEF_-0123456789abcd",
                        pref_token="12.pref.x", name=name)
    fast = MessageTemplate.build(content, identity, DATE).personalise(personal)
    slow = to_bytes(build_message(content, identity, DATE, personal))
    assert parts(fast) == parts(slow)
    assert all(len(line) <= 998 for line in fast.split(b"\r\n"))  # RFC 5322 line limit
    assert fast.isascii() and b"\n" not in fast.replace(b"\r\n", b"")
    # what lets the transport send it as it is (``canonical``): CRLF only, a final CRLF, and no
    # line starting with "." -- the SMTP wire form adds nothing but the final "."
    assert wire_format(fast) == fast + b".\r\n"


@given(
    segments=st.lists(st.binary(max_size=200), min_size=1, max_size=6),
    values=st.lists(st.binary(max_size=90), min_size=5, max_size=5),
)
def test_base64_splice_decodes_to_the_filled_body(segments: list[bytes], values: list[bytes]) -> None:
    markers = [SLOTS[n].encode() for n in SLOT_NAMES]
    body = segments[0]
    expected = segments[0]
    for i, segment in enumerate(segments[1:]):
        body += markers[i % len(markers)] + segment
        expected += values[i % len(markers)] + segment
    splice = _Base64Splice(body)
    encoded = splice.fill({n: values[i] for i, n in enumerate(SLOT_NAMES)})
    assert base64.b64decode(encoded.replace(b"\r\n", b"")) == expected
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))


@pytest.mark.parametrize("to", ["a@example.org\r\nBcc: victim@example.com", "a@example.org\nX: y",
                                "a@example.org\x00", "two@example.org, three@example.org"])
def test_recipient_header_injection_is_refused(identity: Identity, to: str) -> None:
    template = MessageTemplate.build(rendered(""), identity, DATE)
    with pytest.raises(InvalidHeader) as caught:
        template.personalise(Personal(to=to, message_id="e1.s1"))
    assert caught.value.field == "to"


def test_message_id_injection_is_refused(identity: Identity) -> None:
    with pytest.raises(InvalidHeader, match="msgid"):
        build_message(rendered(""), identity, DATE, Personal(to="a@example.org", message_id="x\r\nBcc: y"))


def test_reply_to_injection_is_refused(identity: Identity) -> None:
    with pytest.raises(InvalidHeader, match="reply_to"):
        build_message(rendered(""), identity, DATE, Personal(to="a@example.org", message_id="m"),
                      reply_to="x@example.org\r\nBcc: y@example.org")


def test_site_name_with_a_line_break_is_a_settings_error(tmp_path) -> None:
    with pytest.raises(SettingsError, match="MAILER_SITE_NAME: must not contain line breaks"):
        load_settings(data_dir=tmp_path, site_name="أخبار\r\nBcc: victim@example.com")


def test_name_is_escaped_and_isolated_in_html(identity: Identity) -> None:
    template = MessageTemplate.build(rendered(""), identity, DATE)
    data = template.personalise(Personal(to="a@example.org", message_id="m", name='<img src=x onerror=alert(1)> John'))
    html = parts(data)["html"]
    assert "<img" not in html
    # the whole name is one isolated run, in the direction of its first strong character
    assert 'مرحباً <span dir="ltr">&lt;img src=x onerror=alert(1)&gt; John</span>' in html


def test_internationalised_address_uses_smtputf8(identity: Identity) -> None:
    data = to_bytes(build_message(rendered(""), identity, DATE, Personal(to="قارئ@مثال.عراق", message_id="m")))
    assert "قارئ@مثال.عراق".encode() in data


def test_long_unsubscribe_url_stays_a_url(tmp_path) -> None:
    settings = load_settings(data_dir=tmp_path, sender_address="newsletter@news.example.com",
                             base_url="https://newsletter.a-rather-long-news-site-domain.example.com/mail")
    identity = Identity.for_list(settings, "daily")
    personal = Personal(to="a@example.org", message_id="m", token="12345.daily.abcDEF_-0123456789abcdXYZ")
    url = "https://newsletter.a-rather-long-news-site-domain.example.com/mail/u/12345.daily.abcDEF_-0123456789abcdXYZ"
    for data in (MessageTemplate.build(rendered(""), identity, DATE).personalise(personal),
                 to_bytes(build_message(rendered(""), identity, DATE, personal))):
        assert b"=?utf-8?" not in data.split(b"List-Unsubscribe:")[1].split(b"List-Unsubscribe-Post")[0]
        assert str(message_from_bytes(data, policy=policy.default)["List-Unsubscribe"]).startswith(f"<{url}>, <mailto:")
