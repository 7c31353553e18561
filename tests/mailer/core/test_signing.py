"""The keyring: purposes kept apart, any change refused, key rotation, the case-folding VERP style,
the tokens from before key ids, and properties over any input."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import count, permutations
from typing import get_args

import hypothesis.strategies as st
import pytest
from hypothesis import given

from mailer.core.errors import InvalidInput, InvalidToken
from mailer.core.signing import HEX, TOKEN_PURPOSES, URLSAFE, Keyring, Style, TokenPurpose
from mailer.delivery import verp
from mailer.shares.checks import ShareInputRefused
from mailer.shares.tokens import check_form_token, check_stop_token, form_token, stop_token
from subscribers import tokens

OLD, NEW, OTHER = "old-key-" + "o" * 40, "new-key-" + "n" * 40, "other-key-" + "x" * 40
RING = Keyring.of(OLD)
ROTATED = Keyring.of(NEW, [OLD])
PURPOSES: tuple[TokenPurpose, ...] = get_args(TokenPurpose)
STYLES = (URLSAFE, HEX)
SAFE = re.compile(r"[A-Za-z0-9._-]+")


def payload_for(style: Style) -> str:
    return "42.daily" if style is URLSAFE else "42"


@pytest.mark.parametrize("style", STYLES, ids=["urlsafe", "hex"])
def test_a_token_round_trips_names_its_key_and_is_safe_anywhere(style: Style) -> None:
    payload = payload_for(style)
    token = RING.sign("unsubscribe", payload, style=style)
    assert RING.verify("unsubscribe", token, style=style) == payload
    assert SAFE.fullmatch(token)  # URLs, HTML attributes, headers, a mailto subject, a local part
    kid = token[len(payload) + 1 :][: style.kid_chars]
    assert kid == next(k.kid(style) for k in RING.keys)
    assert len(token) == len(payload) + 1 + style.sig_chars


def test_a_token_for_one_purpose_never_verifies_for_another() -> None:
    for made, used in permutations(PURPOSES, 2):
        for style in STYLES:
            token = RING.sign(made, payload_for(style), style=style)
            with pytest.raises(InvalidToken) as refused:
                RING.verify(used, token, style=style)
            assert refused.value.reason == "bad signature"
    assert set(PURPOSES) == TOKEN_PURPOSES
    with pytest.raises(ValueError, match="is not one of"):
        RING.sign("share-client", "x")  # type: ignore[arg-type]  (a pseudonym purpose)
    with pytest.raises(ValueError, match="is not one of"):
        RING.pseudonym("unsubscribe", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("style", STYLES, ids=["urlsafe", "hex"])
def test_every_change_truncation_and_extension_is_refused(style: Style) -> None:
    payload = payload_for(style)
    token = RING.sign("preferences", payload, style=style)
    replacements = "0aA.-_Z9f"
    for i in range(len(token)):
        for other in replacements:
            changed = token[:i] + other + token[i + 1 :]
            if changed == token or (style.folds_case and changed.lower() == token.lower()):
                continue
            with pytest.raises(InvalidToken):
                RING.verify("preferences", changed, style=style)
    for cut in range(len(token)):
        with pytest.raises(InvalidToken):
            RING.verify("preferences", token[:cut], style=style)
    for extra in ("a", "0", ".", token[-1]):
        with pytest.raises(InvalidToken):
            RING.verify("preferences", token + extra, style=style)
        with pytest.raises(InvalidToken):
            RING.verify("preferences", extra + token[len(payload):], style=style)  # another payload


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = Keyring.of(OTHER).sign("share-stop", "ab" * 32)
    with pytest.raises(InvalidToken) as refused:
        RING.verify("share-stop", token)
    assert refused.value.reason == "unknown or retired key"
    forged_kid = token[: -URLSAFE.sig_chars] + RING.key_ids[0] + token[-URLSAFE.mac_chars :]
    with pytest.raises(InvalidToken) as refused:  # our key id on their MAC
        RING.verify("share-stop", forged_kid)
    assert refused.value.reason == "bad signature"


def test_rotation_new_tokens_with_the_new_key_old_ones_while_the_old_key_is_kept() -> None:
    old_token = RING.sign("unsubscribe", "7.weekly")
    new_token = ROTATED.sign("unsubscribe", "7.weekly")
    assert new_token != old_token
    assert new_token[-URLSAFE.sig_chars :].startswith(Keyring.of(NEW).key_ids[0])
    assert ROTATED.verify("unsubscribe", old_token) == ROTATED.verify("unsubscribe", new_token) == "7.weekly"
    # the old key dropped: its tokens die, the new ones live
    assert Keyring.of(NEW).verify("unsubscribe", new_token) == "7.weekly"
    with pytest.raises(InvalidToken):
        Keyring.of(NEW).verify("unsubscribe", old_token)
    # a key id does not depend on where the key sits in the ring, or on the other keys
    third = Keyring.of(OTHER, [NEW, OLD])
    assert third.key_ids[1:] == ROTATED.key_ids == (Keyring.of(NEW).key_ids[0], RING.key_ids[0])
    assert third.verify("unsubscribe", old_token) == third.verify("unsubscribe", new_token) == "7.weekly"
    # the same key twice is one key
    assert Keyring.of(NEW, [NEW, OLD, NEW]) == ROTATED


def test_two_keys_with_the_same_id_are_both_tried() -> None:
    """Key ids are 24 bits: among a few thousand keys two share one, and both must still work."""
    seen: dict[str, str] = {}
    for n in count():
        secret = f"colliding-key-{n:032d}"
        kid = Keyring.of(secret).key_ids[0]
        if kid in seen:
            first, second = seen[kid], secret
            break
        seen[kid] = secret
    ring = Keyring.of(first, [second])
    assert ring.key_ids[0] == ring.key_ids[1]
    for secret in (first, second):
        token = Keyring.of(secret).sign("login-csrf", "cookie")
        assert ring.verify("login-csrf", token) == "cookie"


def test_the_hex_style_folds_case_and_keeps_a_verp_address_short() -> None:
    token = RING.sign("verp", "1234567890123456789", style=HEX)
    assert token == token.lower() and re.fullmatch(r"[0-9]+-[0-9a-f]{22}", token)
    for seen in (token.upper(), token[:10] + token[10:].upper(), token.swapcase()):
        assert RING.verify("verp", seen, style=HEX) == "1234567890123456789"
    largest = verp.address(RING, "bounces@news.example.com", 10**19 - 1)  # the largest row id it reads
    assert len(largest.split("@")[0]) <= 64  # RFC 5321's limit for a local part
    assert verp.find(RING, f"Final-Recipient: x\nTo: <{largest.upper()}>") == 10**19 - 1
    ten_billion = verp.address(RING, "bounces@news.example.com", 10**10)
    assert len(ten_billion.split("@")[0]) == len("bounces+10000000000-") + 22  # 42: room for a longer base
    urlsafe = RING.sign("verp", "42")
    with pytest.raises(InvalidToken):  # case matters where nothing changes it
        RING.verify("verp", urlsafe.swapcase())


def test_payloads_outside_the_style_are_a_programming_error() -> None:
    for payload in ("", "a|b", "a b", "أحمد", "x" * 201, "a/b"):
        with pytest.raises(ValueError, match="does not fit"):
            RING.sign("share-form", payload)
    with pytest.raises(ValueError, match="does not fit"):
        RING.sign("verp", "Upper", style=HEX)
    with pytest.raises(ValueError, match="at least 32"):
        Keyring.of("short")


def test_tokens_from_before_key_ids_still_verify_with_any_key_of_the_ring() -> None:
    def old_mac(secret: str, message: str, style: Style) -> str:  # as the four old helpers did
        digest = hmac.digest(secret.encode(), message.encode(), "sha256")
        return digest.hex()[:16] if style is HEX else base64.urlsafe_b64encode(digest).decode()[:22]

    fields = ("42", "daily")
    for style in STYLES:
        mac = old_mac(OLD, "unsubscribe|42|daily", style)
        ROTATED.verify_legacy("unsubscribe", fields, mac, style=style)
        for bad_ring, bad_fields, bad_mac in [
            (Keyring.of(NEW), fields, mac),  # the key that made it is gone
            (ROTATED, ("43", "daily"), mac),
            (ROTATED, fields, old_mac(OLD, "preferences|42|daily", style)),
            (ROTATED, fields, mac[:-1]),
            (ROTATED, ("42|daily",), mac),
            (ROTATED, fields, "é" * len(mac)),
        ]:
            with pytest.raises(InvalidToken):
                bad_ring.verify_legacy("unsubscribe", bad_fields, bad_mac, style=style)
    ROTATED.verify_legacy("verp", ("9",), old_mac(OLD, "verp|9", HEX).upper(), style=HEX)


def test_the_pseudonym_is_the_same_in_every_process_and_as_before_the_keyring() -> None:
    value = RING.pseudonym("share-client", "192.0.2.7")
    assert value == hmac.new(OLD.encode(), b"share-client|192.0.2.7", hashlib.sha256).hexdigest()
    code = ("from mailer.core.signing import Keyring; import sys; r = Keyring.of(sys.argv[1]);"
            "print(r.pseudonym('share-client', '192.0.2.7'), r.key_ids[0])")
    other_process = subprocess.run([sys.executable, "-c", code, OLD], capture_output=True, text=True, check=True)
    assert other_process.stdout.split() == [value, RING.key_ids[0]]
    assert ROTATED.pseudonym("share-client", "192.0.2.7") != value  # the newest key makes it
    assert OLD not in repr(RING) and OLD.encode() not in repr(RING).encode()


# Properties over any input: never an exception but InvalidInput, never a false accept ----------

TEXT = st.text(max_size=300) | st.from_regex(r"[0-9a-zA-Z._-]{0,80}", fullmatch=True)


@given(st.sampled_from(PURPOSES), st.sampled_from(STYLES), TEXT)
def test_any_string_is_refused_or_is_a_token_we_signed(purpose: TokenPurpose, style: Style, text: str) -> None:
    try:
        payload = ROTATED.verify(purpose, text, style=style)
    except InvalidToken:
        return
    made = {ROTATED.sign(purpose, payload, style=style), Keyring.of(OLD).sign(purpose, payload, style=style)}
    assert (text.lower() if style.folds_case else text) in made


@given(st.sampled_from(PURPOSES), st.sampled_from(STYLES), st.from_regex(r"[0-9a-z._-]{1,40}", fullmatch=True),
       st.integers(min_value=0), st.characters(codec="ascii"))
def test_any_change_to_a_signed_token_is_refused(
    purpose: TokenPurpose, style: Style, payload: str, position: int, char: str
) -> None:
    token = ROTATED.sign(purpose, payload, style=style)
    i = position % len(token)
    changed = token[:i] + char + token[i + 1 :]
    if changed == token or (style.folds_case and changed.lower() == token):
        assert ROTATED.verify(purpose, changed, style=style) == payload
        return
    with pytest.raises(InvalidToken):
        ROTATED.verify(purpose, changed, style=style)


@given(TEXT)
def test_the_token_checks_of_every_feature_refuse_any_string(text: str) -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    for purpose in ("unsubscribe", "preferences"):
        with pytest.raises(InvalidInput):
            tokens.check(ROTATED, purpose, text)  # type: ignore[arg-type]
    with pytest.raises(ShareInputRefused):
        check_stop_token(ROTATED, text)
    with pytest.raises(ShareInputRefused):
        check_form_token(ROTATED, text, 1, now, min_fill=0, max_age=timedelta(days=1))
    assert verp.find(ROTATED, text) is None
    assert verp.find(ROTATED, f"bounces+{text}@x") is None


def test_the_token_checks_of_every_feature_accept_what_they_made() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    for ring in (RING, ROTATED):
        for key in (None, "k" * 12):
            made = tokens.unsubscribe_token(ring, 5, "daily", key)
            assert tokens.check(ROTATED, "unsubscribe", made) == tokens.Link(5, "daily", key)
            made = tokens.preferences_token(ring, 5, key)
            assert tokens.check(ROTATED, "preferences", made) == tokens.Link(5, "pref", key)
        assert check_stop_token(ROTATED, stop_token(ring, "c" * 64)) == "c" * 64
        check_form_token(ROTATED, form_token(ring, 3, now), 3, now + timedelta(seconds=5), min_fill=3,
                         max_age=timedelta(hours=1))
        assert verp.find(ROTATED, verp.address(ring, "b@x.org", 8)) == 8


@given(secret=st.binary(min_size=32, max_size=200), message=st.text(max_size=300))
def test_the_mac_is_hmac_sha256_for_any_key_and_message(secret: bytes, message: str) -> None:
    # keys longer than SHA-256's 64-byte block are hashed first (RFC 2104); shorter ones padded
    key = Keyring.of(secret).keys[0]
    expected = hmac.digest(secret, message.encode(), "sha256")
    assert key.mac(message, HEX) == expected.hex()[: HEX.mac_chars]
    assert key.mac(message, URLSAFE) == base64.urlsafe_b64encode(expected).decode()[: URLSAFE.mac_chars]
    assert key.ident == hmac.digest(secret, b"mailer-key-id", "sha256")[:3]
