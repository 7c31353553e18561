"""Tokens for links in mail. Unsubscribe and preference links are HMAC-SHA256 over (purpose,
subscriber, list), compared in constant time: a token names its subscriber in the clear; only the
MAC makes it valid. Confirmation links are random, single-use, and stored only as a hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from mailer.core.errors import InvalidInput

_MAC_CHARS = 22  # 132 bits of HMAC-SHA256, URL-safe base64
_TOKEN = re.compile(r"([1-9][0-9]{0,17})\.([a-z]{1,16})\.([A-Za-z0-9_-]{22})")
BAD_TOKEN = "الرابط غير صالح أو منتهي الصلاحية."  # noqa: S105  (an Arabic message, not a secret)


def _mac(secret: bytes, purpose: str, subscriber_id: int, scope: str) -> str:
    digest = hmac.digest(secret, f"{purpose}|{subscriber_id}|{scope}".encode(), "sha256")
    return base64.urlsafe_b64encode(digest).decode()[:_MAC_CHARS]


def make(secret: bytes, purpose: str, subscriber_id: int, scope: str) -> str:
    """``{subscriber}.{scope}.{mac}``: only ``[A-Za-z0-9._-]``, safe in URLs, HTML and headers."""
    return f"{subscriber_id}.{scope}.{_mac(secret, purpose, subscriber_id, scope)}"


def check(secret: bytes, purpose: str, token: str) -> tuple[int, str]:
    """(subscriber id, scope) of a valid token; anything else raises ``InvalidInput('token')``."""
    match = _TOKEN.fullmatch(token)
    if not match:
        raise InvalidInput("token", "malformed token", public_message=BAD_TOKEN)
    subscriber_id, scope, mac = int(match.group(1)), match.group(2), match.group(3)
    if not hmac.compare_digest(mac, _mac(secret, purpose, subscriber_id, scope)):
        raise InvalidInput("token", "bad signature", public_message=BAD_TOKEN)
    return subscriber_id, scope


def unsubscribe_token(secret: bytes, subscriber_id: int, list_name: str) -> str:
    return make(secret, "unsubscribe", subscriber_id, list_name)


def preferences_token(secret: bytes, subscriber_id: int) -> str:
    return make(secret, "preferences", subscriber_id, "pref")


# Confirmation links (double opt-in, address change) are random, single-use and expire; only their
# SHA-256 is stored. token_urlsafe(32) gives 43 characters (256 bits).
CONFIRM_BYTES = 32
_CONFIRM = re.compile(r"[A-Za-z0-9_-]{43}")


def new_confirmation() -> str:
    return secrets.token_urlsafe(CONFIRM_BYTES)


def confirmation_hash(token: str) -> str:
    """The stored form of a confirmation token; a malformed or truncated one is refused here."""
    if not _CONFIRM.fullmatch(token):
        raise InvalidInput("token", "malformed confirmation token", public_message=BAD_TOKEN)
    return hashlib.sha256(token.encode()).hexdigest()
