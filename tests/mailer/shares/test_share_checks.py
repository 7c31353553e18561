"""The pure checks and tokens of the share feature, including properties over any input."""

from __future__ import annotations

import base64
import hmac
import unicodedata
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.core.arabic import BIDI_CONTROLS
from mailer.core.clients import client_key
from mailer.core.signing import Keyring
from mailer.shares.checks import (
    ShareInputRefused,
    address_key,
    canonical_address,
    check_name,
    check_note,
    check_recipient,
    parse_fields,
)
from mailer.shares.tokens import check_form_token, check_stop_token, form_token, stop_token

SECRET = Keyring.of("s" * 40)
NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "name", ["أحمد", "Sara O'Neil", "د. محمد عبد الله", "محمد‌رضا", "José Núñez", "أبو علي (الموصل)", "Ali 2"]
)
def test_ordinary_names_pass(name: str) -> None:
    assert check_name(name, max_length=40) == name


def test_name_whitespace_is_folded() -> None:
    assert check_name("  أحمد   علي ", max_length=40) == "أحمد علي"


@given(st.text(max_size=60))
@settings(max_examples=400, deadline=None)
def test_a_name_that_passes_is_safe_to_show(value: str) -> None:
    try:
        name = check_name(value, max_length=40)
    except ShareInputRefused as exc:
        assert exc.field == "sender_name" and exc.public_message
        return
    assert 0 < len(name) <= 40
    assert "@" not in unicodedata.normalize("NFKC", name) and "://" not in name
    assert not any(ch in BIDI_CONTROLS for ch in name)
    assert all(unicodedata.category(ch)[0] != "C" or ch == "\u200c" for ch in name)


@given(st.text(alphabet=st.sampled_from("abc.@,; <>\"\r\n=?+-_é١"), max_size=40))
@settings(max_examples=400, deadline=None)
def test_an_address_that_passes_names_exactly_one_mailbox(value: str) -> None:
    try:
        address = check_recipient(value)
    except ShareInputRefused as exc:
        assert exc.field == "friend_email"
        assert exc.reason in ("several_recipients", "invalid_friend_email")
        return
    assert address.normalized.count("@") == 1
    assert not any(ch in address.normalized for ch in ",; <>\"\r\n")
    assert len(getaddresses([address.normalized])) == 1


def test_canonical_address_drops_the_tag_and_case() -> None:
    assert canonical_address(check_recipient("Friend+News@Example.ORG")) == "friend@example.org"
    assert address_key(check_recipient("friend@example.org")) == address_key(check_recipient("FRIEND+x@example.org"))
    assert canonical_address(check_recipient("+only@example.org")) == "+only@example.org"


def test_note_is_off_unless_switched_on() -> None:
    assert check_note("", enabled=False, max_length=10) == ""
    with pytest.raises(ShareInputRefused) as refused:
        check_note("مرحبا", enabled=False, max_length=10)
    assert refused.value.reason == "note_disabled"
    assert check_note("مرحبا\r\nيا صديقي", enabled=True, max_length=40) == "مرحبا يا صديقي"


def test_slot_markers_typed_by_a_reader_are_removed() -> None:
    assert check_name("أحمد mailerslottokenzq", max_length=40) == "أحمد"


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
    ],
)
def test_client_key_groups_an_ipv6_host_by_its_64(host: str, key: str) -> None:
    assert client_key(host) == key


def test_repeated_or_structured_fields_are_refused() -> None:
    base = [("article_id", "1"), ("form_token", "t"), ("sender_name", "أحمد")]
    with pytest.raises(ShareInputRefused) as twice:
        parse_fields([*base, ("friend_email", "a@x.org"), ("friend_email", "b@x.org")])
    assert twice.value.reason == "several_recipients"
    with pytest.raises(ShareInputRefused) as listed:
        parse_fields([*base, ("friend_email", ["a@x.org", "b@x.org"])])
    assert listed.value.reason == "several_recipients"
    with pytest.raises(ShareInputRefused) as boolean:
        parse_fields([*base, ("friend_email", "a@x.org"), ("sender_email", True)])
    assert boolean.value.field == "sender_email"
    ok = parse_fields([*base, ("friend_email", "a@x.org"), ("article_id_", "x")][:-1])
    assert ok.article_id == 1 and ok.friend_email == "a@x.org"


def test_form_token_checks_signature_article_and_age() -> None:
    token = form_token(SECRET, 7, NOW)
    check_form_token(SECRET, token, 7, NOW + timedelta(seconds=5), min_fill=3, max_age=timedelta(hours=1))
    cases = {
        "bad_form_token": (token, 8, 5),
        "too_fast": (token, 7, 1),
        "form_expired": (token, 7, 3601),
    }
    for reason, (value, article, after) in cases.items():
        with pytest.raises(ShareInputRefused) as refused:
            check_form_token(SECRET, value, article, NOW + timedelta(seconds=after), min_fill=3,
                             max_age=timedelta(hours=1))
        assert refused.value.reason == reason
    with pytest.raises(ShareInputRefused):
        check_form_token(Keyring.of("o" * 40), token, 7, NOW + timedelta(seconds=5), min_fill=3, max_age=timedelta(hours=1))
    article, issued, nonce, mac = token.split(".")
    with pytest.raises(ShareInputRefused):  # an earlier time under the same MAC
        check_form_token(SECRET, f"{article}.{int(issued) - 100}.{nonce}.{mac}", 7, NOW + timedelta(seconds=5),
                         min_fill=3, max_age=timedelta(hours=1))
    assert form_token(SECRET, 7, NOW) != token  # two forms served in the same second differ


@given(st.text(max_size=100))
def test_stop_token_accepts_only_what_it_signed(value: str) -> None:
    key = address_key(check_recipient("friend@example.org"))
    assert check_stop_token(SECRET, stop_token(SECRET, key)) == key
    if value != stop_token(SECRET, key):
        with pytest.raises(ShareInputRefused):
            check_stop_token(SECRET, value)


def test_a_stop_link_from_before_key_ids_still_works_after_a_rotation() -> None:
    """Delivered share mail carries ``{address key}.{22-character MAC}``: it promised "no more
    shares, for good", so it stays valid while the key that made it is kept."""
    key = address_key(check_recipient("friend@example.org"))
    digest = hmac.digest(b"s" * 40, f"share-stop|{key}".encode(), "sha256")
    old_link = f"{key}.{base64.urlsafe_b64encode(digest).decode()[:22]}"
    assert check_stop_token(SECRET, old_link) == key
    assert check_stop_token(Keyring.of("n" * 40, ["s" * 40]), old_link) == key
    flipped = old_link[:-1] + ("A" if old_link[-1] != "A" else "B")
    for refused_by, token in [(Keyring.of("n" * 40), old_link), (SECRET, flipped), (SECRET, "0" * 64 + old_link[64:])]:
        with pytest.raises(ShareInputRefused) as refused:
            check_stop_token(refused_by, token)
        assert refused.value.reason == "bad_stop_token"
