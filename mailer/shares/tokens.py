"""Signed values of the share feature: the form token (which article's form was served, and when,
for the minimum fill time and the maximum age) and the stop link (which address asked for no more
shares). Both are signed by the keyring (``mailer.core.signing``); this module only says what is
in them and turns a refusal into the share feature's own reason and Arabic message."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from mailer.core.errors import InvalidToken
from mailer.core.signing import Keyring
from mailer.shares.checks import ShareInputRefused

# {article}.{issued}.{nonce}: the nonce tells apart two forms served in the same second, since a
# token makes one share (forms served before it had none, and work until they expire)
_FORM = re.compile(r"([0-9]{1,12})\.([0-9]{1,12})(?:\.[A-Za-z0-9_-]{11})?")
_STOP = re.compile(r"[0-9a-f]{64}")  # the address key
# Stop links from before key ids (``{key}.{22-character MAC}``) are in delivered mail and promise
# "no more shares, for good": they are accepted while the key that made them is kept.
_LEGACY_STOP = re.compile(r"([0-9a-f]{64})\.([A-Za-z0-9_-]{22})")
BAD_FORM = "النموذج غير صالح. افتح صفحة الإرسال من رابط الخبر ثم أعد المحاولة."
BAD_STOP = "الرابط غير صالح. استخدم الرابط كما ورد في الرسالة."


def form_token(keyring: Keyring, article_id: int, now: datetime) -> str:
    """``{article}.{issued}.{nonce}.{signature}``: when the form for ``article_id`` was served, signed."""
    return keyring.sign("share-form", f"{article_id}.{int(now.timestamp())}.{secrets.token_urlsafe(8)}")


def bad_form(message: str) -> ShareInputRefused:
    return ShareInputRefused("bad_form_token", "form_token", message, public_message=BAD_FORM)


def check_form_token(
    keyring: Keyring, token: str, article_id: int | None, now: datetime, *, min_fill: float, max_age: timedelta
) -> int:
    """The article the form was served for; refuse a token that is forged, for another article
    (when ``article_id`` is given), too fresh (a bot) or too old."""
    try:
        match = _FORM.fullmatch(keyring.verify("share-form", token.strip()))
    except InvalidToken:
        raise bad_form("forged, malformed or signed with a retired key") from None
    if not match or (article_id is not None and int(match.group(1)) != article_id):
        raise bad_form("for another article")
    age = now.timestamp() - int(match.group(2))
    if age < min_fill:
        raise ShareInputRefused(
            "too_fast", "form_token", f"sent {age:.1f} s after the form was served, sooner than {min_fill} s",
            public_message="أُرسل النموذج بسرعة كبيرة. انتظر بضع ثوانٍ ثم اضغط «أرسل» مرة أخرى.",
        )
    if age > max_age.total_seconds():
        raise ShareInputRefused(
            "form_expired", "form_token", f"served {timedelta(seconds=int(age))} ago, more than {max_age}",
            public_message="انتهت صلاحية النموذج. أعد تحميل الصفحة ثم أرسله من جديد.",
        )
    return int(match.group(1))


def stop_token(keyring: Keyring, key: str) -> str:
    """``{address key}.{signature}``: lets the holder of one mailbox stop shares to it."""
    return keyring.sign("share-stop", key)


def check_stop_token(keyring: Keyring, token: str) -> str:
    """The address key of a valid stop token."""
    try:
        legacy = _LEGACY_STOP.fullmatch(token)
        if legacy:
            keyring.verify_legacy("share-stop", (legacy.group(1),), legacy.group(2))
            return legacy.group(1)
        key = keyring.verify("share-stop", token)
    except InvalidToken:
        raise ShareInputRefused("bad_stop_token", "token", "malformed, forged or retired stop link",
                                public_message=BAD_STOP) from None
    if not _STOP.fullmatch(key):
        raise ShareInputRefused("bad_stop_token", "token", "stop link without an address key",
                                public_message=BAD_STOP)
    return key
