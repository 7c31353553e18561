"""Tokens for links in mail. Unsubscribe and preference links are signed by the keyring
(``mailer.core.signing``): ``{subscriber}.{list}.{key id}{mac}``, naming their subscriber in the
clear, valid only by their MAC, and still valid after a key rotation while the old key is kept.
Confirmation links are random, single-use, and stored only as a hash."""

from __future__ import annotations

import hashlib
import re
import secrets

from mailer.core.errors import InvalidInput, InvalidToken
from mailer.core.signing import Keyring, TokenPurpose

_PAYLOAD = re.compile(r"([1-9][0-9]{0,17})\.([a-z]{1,16})")
# Before key ids (until the keyring): ``{subscriber}.{scope}.{22-character MAC}``, still in
# delivered mail; accepted while the key that made it is in the ring.
_LEGACY = re.compile(r"([1-9][0-9]{0,17})\.([a-z]{1,16})\.([A-Za-z0-9_-]{22})")
# Either form, for finding a token in text (the subject of a ``mailto:`` unsubscribe).
PATTERN = r"[1-9][0-9]{0,17}\.[a-z]{1,16}\.[A-Za-z0-9_-]{22}(?:[A-Za-z0-9_-]{4})?"
BAD_TOKEN = InvalidToken.public_message


def make(keyring: Keyring, purpose: TokenPurpose, subscriber_id: int, scope: str) -> str:
    """Only ``[A-Za-z0-9._-]``: safe in URLs, HTML and headers. A scope that ``check`` could not
    read back (a list named outside ``[a-z]{1,16}``) fails here, not in the reader's inbox."""
    payload = f"{subscriber_id}.{scope}"
    if not _PAYLOAD.fullmatch(payload):
        raise ValueError(f"subscriber {subscriber_id!r} and scope {scope!r} do not make a token payload")
    return keyring.sign(purpose, payload)


def check(keyring: Keyring, purpose: TokenPurpose, token: str) -> tuple[int, str]:
    """(subscriber id, scope) of a valid token; anything else raises ``InvalidToken``."""
    legacy = _LEGACY.fullmatch(token)
    if legacy:
        keyring.verify_legacy(purpose, (legacy[1], legacy[2]), legacy[3])
        return int(legacy[1]), legacy[2]
    match = _PAYLOAD.fullmatch(keyring.verify(purpose, token))
    if not match:  # signed by us for this purpose, yet not ours to read: refuse all the same
        raise InvalidToken("unexpected payload")
    return int(match[1]), match[2]


def unsubscribe_token(keyring: Keyring, subscriber_id: int, list_name: str) -> str:
    return make(keyring, "unsubscribe", subscriber_id, list_name)


def preferences_token(keyring: Keyring, subscriber_id: int) -> str:
    return make(keyring, "preferences", subscriber_id, "pref")


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
