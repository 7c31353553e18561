"""Tokens for links in mail. Unsubscribe and preference links are signed by the keyring
(``mailer.core.signing``): ``{subscriber}.{list}.{link key}.{key id}{mac}``, naming their
subscriber in the clear, valid only by their MAC, and still valid after a key rotation while the
old key is kept.

The *link key* is a random value of the subscriber's own (``Subscriber.link_key``): ids can come
back (SQLite hands out the largest id again once its row is deleted), so a token names the
subscriber *and* their link key, and ``forget`` destroys both. A token whose subscriber is gone,
or whose link key is not theirs, is refused like a forged one. Subscribers from before link keys
have none; their tokens carry none, and are accepted only while the row they name has none.

Confirmation links are random, single-use, and stored only as a hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from mailer.core.errors import InvalidInput, InvalidToken
from mailer.core.signing import Keyring, TokenPurpose

LINK_KEY_BYTES = 9  # 12 characters of base64url
_PAYLOAD = re.compile(r"([1-9][0-9]{0,17})\.([a-z]{1,16})(?:\.([A-Za-z0-9_-]{12}))?")
# Before key ids (until the keyring): ``{subscriber}.{scope}.{22-character MAC}``, still in
# delivered mail; accepted while the key that made it is in the ring.
_LEGACY = re.compile(r"([1-9][0-9]{0,17})\.([a-z]{1,16})\.([A-Za-z0-9_-]{22})")
# Any form, for finding a token in text (the subject of a ``mailto:`` unsubscribe).
PATTERN = r"[1-9][0-9]{0,17}\.[a-z]{1,16}(?:\.[A-Za-z0-9_-]{12})?\.[A-Za-z0-9_-]{22}(?:[A-Za-z0-9_-]{4})?"
BAD_TOKEN = InvalidToken.public_message


def new_link_key() -> str:
    return secrets.token_urlsafe(LINK_KEY_BYTES)


def new_link_keys(count: int) -> list[str]:
    """``count`` link keys from one read of the system's random source: a million of
    ``new_link_key`` were a million ``getrandom`` calls, 2 s of an import. Each key is 9 bytes of
    their own (a multiple of 3: 12 characters of base64url each, no padding), like one of it."""
    text = base64.urlsafe_b64encode(secrets.token_bytes(LINK_KEY_BYTES * count)).decode("ascii")
    width = LINK_KEY_BYTES * 4 // 3
    return [text[i:i + width] for i in range(0, len(text), width)]


@dataclass(frozen=True)
class Link:
    """What a valid token names: a subscriber, a scope (a list, or ``pref``) and a link key."""

    subscriber_id: int
    scope: str
    link_key: str | None

    def opens(self, link_key: str | None) -> bool:
        """Whether this link belongs to the subscriber row whose link key is ``link_key``."""
        if link_key is None or self.link_key is None:
            return link_key is None and self.link_key is None
        return hmac.compare_digest(self.link_key, link_key)


def make(keyring: Keyring, purpose: TokenPurpose, subscriber_id: int, scope: str, link_key: str | None) -> str:
    """Only ``[A-Za-z0-9._-]``: safe in URLs, HTML and headers. A scope that ``check`` could not
    read back (a list named outside ``[a-z]{1,16}``) fails here, not in the reader's inbox."""
    payload = f"{subscriber_id}.{scope}" + (f".{link_key}" if link_key is not None else "")
    if not _PAYLOAD.fullmatch(payload):
        raise ValueError(f"subscriber {subscriber_id!r} and scope {scope!r} do not make a token payload")
    return keyring.sign(purpose, payload)


def check(keyring: Keyring, purpose: TokenPurpose, token: str) -> Link:
    """What a valid token names; anything else raises ``InvalidToken``. Whether its subscriber
    still exists, with that link key, is ``flows.holder``'s to say."""
    legacy = _LEGACY.fullmatch(token)
    if legacy:
        keyring.verify_legacy(purpose, (legacy[1], legacy[2]), legacy[3])
        return Link(int(legacy[1]), legacy[2], None)
    match = _PAYLOAD.fullmatch(keyring.verify(purpose, token))
    if not match:  # signed by us for this purpose, yet not ours to read: refuse all the same
        raise InvalidToken("unexpected payload")
    return Link(int(match[1]), match[2], match[3])


def unsubscribe_token(keyring: Keyring, subscriber_id: int, list_name: str, link_key: str | None) -> str:
    return make(keyring, "unsubscribe", subscriber_id, list_name, link_key)


def preferences_token(keyring: Keyring, subscriber_id: int, link_key: str | None) -> str:
    return make(keyring, "preferences", subscriber_id, "pref", link_key)


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
