"""Signed values of the share feature: the form token (when the form was served, for the minimum
fill time) and the stop link (which address asked for no more shares). HMAC-SHA256 as in
``subscribers/tokens.py``, compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta

from mailer.shares.checks import ShareInputRefused

_MAC_CHARS = 22
_FORM = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{22})")
_STOP = re.compile(r"([0-9a-f]{64})\.([A-Za-z0-9_-]{22})")
BAD_FORM = "النموذج غير صالح. افتح صفحة الإرسال من رابط الخبر ثم أعد المحاولة."
BAD_STOP = "الرابط غير صالح. استخدم الرابط كما ورد في الرسالة."


def _mac(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:_MAC_CHARS]


def form_token(secret: bytes, article_id: int, now: datetime) -> str:
    """``{issued}.{mac}``: when the form for ``article_id`` was served, signed."""
    issued = int(now.timestamp())
    return f"{issued}.{_mac(secret, f'share-form|{article_id}|{issued}')}"


def check_form_token(
    secret: bytes, token: str, article_id: int, now: datetime, *, min_fill: float, max_age: timedelta
) -> None:
    """Refuse a token that is forged, for another article, too fresh (a bot) or too old."""
    match = _FORM.fullmatch(token.strip())
    if not match or not hmac.compare_digest(
        match.group(2), _mac(secret, f"share-form|{article_id}|{match.group(1)}")
    ):
        raise ShareInputRefused("bad_form_token", "form_token", "forged, malformed or for another article",
                                public_message=BAD_FORM)
    age = now.timestamp() - int(match.group(1))
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


def stop_token(secret: bytes, key: str) -> str:
    """``{address key}.{mac}``: lets the holder of one mailbox stop shares to it."""
    return f"{key}.{_mac(secret, f'share-stop|{key}')}"


def check_stop_token(secret: bytes, token: str) -> str:
    """The address key of a valid stop token."""
    match = _STOP.fullmatch(token)
    if not match or not hmac.compare_digest(match.group(2), _mac(secret, f"share-stop|{match.group(1)}")):
        raise ShareInputRefused("bad_stop_token", "token", "malformed or forged stop link", public_message=BAD_STOP)
    return match.group(1)
