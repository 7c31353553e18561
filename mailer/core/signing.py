"""Every signed token of the service, and the keyed pseudonyms, made and checked in one place.

Why one module: a link in delivered mail must keep working when the secret changes, and the
only way to promise that for every kind of token is for all of them to share one keyring. A
token carries the id of the key that signed it; it is made with the newest key and checked with
whichever key of the ring it names, so an operator rotates by putting a new key first and
keeping the old one (``MAILER_SECRET_KEY_PREVIOUS``) for as long as old links must work.

A token is ``{payload}{separator}{key id}{mac}``: the payload in the clear (the caller's own
fields, e.g. ``42.daily``), then a fixed-length signature, so it is read from the right and the
payload may contain the separator. The MAC is HMAC-SHA256 over ``{purpose}|{payload}``, so a
token made for one purpose never verifies for another, and it is compared with
``hmac.compare_digest``. Two styles:

* ``URLSAFE``: base64url, 4 characters of key id and 22 of MAC (132 bits); links and forms.
* ``HEX``: lower-case hex, 6 of key id and 16 of MAC (64 bits); for places that may change the
  case of what we wrote (a relay may upper-case the local part of a VERP return path). Checking
  folds case, so ``42-AB12...`` is the token ``42-ab12...``.

The key id is the first 3 bytes of HMAC-SHA256(key, "mailer-key-id"): stable whatever the order
of the keys, the same in every process, and no help in guessing the key (any token already
gives a stronger oracle). Two keys sharing an id are both tried.

Built on the standard library (``hmac``, ``hashlib``, ``base64``) rather than itsdangerous: we
need a case-insensitive hex form short enough for a VERP local part, key ids (itsdangerous
rotates by trying every key, with no id in the token) and the exact MACs of the tokens already in
delivered mail (``verify_legacy``); its serialisers and timestamps would go unused.

A *pseudonym* is not a token: ``pseudonym(purpose, value)`` is a keyed hash that stands in for a
value in stored records (the share client), stable across processes. It uses the newest key, so
it changes when the key is rotated: records made before and after cannot be linked, which is
acceptable for what it is used for. Token and pseudonym purposes are disjoint, so no stored
pseudonym ever equals a token's MAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from mailer.core.errors import InvalidToken

# Every kind of token the service signs; a typo is a type error, and a new kind is added here.
TokenPurpose = Literal[
    "unsubscribe", "preferences", "verp", "share-form", "share-stop", "login-csrf", "message-id",
    "click", "open", "reader",
]
PseudonymPurpose = Literal["share-client"]
TOKEN_PURPOSES: frozenset[str] = frozenset(get_args(TokenPurpose))
PSEUDONYM_PURPOSES: frozenset[str] = frozenset(get_args(PseudonymPurpose))

MIN_KEY_CHARS = 32
MAX_PAYLOAD = 200
_KEY_ID_MESSAGE = b"mailer-key-id"  # has no "|", so never the message of a token or pseudonym
_KEY_ID_BYTES = 3


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Style:
    """How a signature is written: its alphabet, lengths and separator, and what a payload may hold."""

    name: str
    separator: str
    encode: Callable[[bytes], str] = field(repr=False)
    kid_chars: int
    mac_chars: int
    sig_alphabet: str  # a regular-expression character class, without the brackets
    payload_alphabet: str
    folds_case: bool
    sig: re.Pattern[str] = field(init=False, repr=False)
    mac: re.Pattern[str] = field(init=False, repr=False)
    payload: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        patterns = {
            "sig": f"[{self.sig_alphabet}]{{{self.kid_chars + self.mac_chars}}}",
            "mac": f"[{self.sig_alphabet}]{{{self.mac_chars}}}",
            "payload": f"[{self.payload_alphabet}]{{1,{MAX_PAYLOAD}}}",
        }
        for name, source in patterns.items():
            object.__setattr__(self, name, re.compile(source))

    @property
    def sig_chars(self) -> int:
        return self.kid_chars + self.mac_chars


URLSAFE = Style("urlsafe", ".", _b64, 4, 22, "A-Za-z0-9_-", "A-Za-z0-9._-", folds_case=False)
HEX = Style("hex", "-", bytes.hex, 6, 16, "0-9a-f", "0-9a-z._-", folds_case=True)


_BLOCK = hashlib.sha256().block_size
_IPAD = bytes(x ^ 0x36 for x in range(256))  # RFC 2104's pads, as translation tables
_OPAD = bytes(x ^ 0x5C for x in range(256))


@dataclass(frozen=True)
class Key:
    """One secret and its id; the secret never appears in ``repr``.

    The MAC is RFC 2104's HMAC-SHA256 built as the ``hmac`` module's pure-Python form builds it,
    with the two padded-key hash states made once per key: a message then costs two hash-state
    copies (about 1 us), where ``hmac.digest`` sets up OpenSSL's HMAC anew each time (about 4 us,
    four times a message sent)."""

    secret: bytes = field(repr=False)
    ident: bytes = field(init=False)
    _inner: hashlib._Hash = field(init=False, repr=False, compare=False)
    _outer: hashlib._Hash = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_CHARS:
            raise ValueError(f"a signing key needs at least {MIN_KEY_CHARS} bytes")
        block = self.secret if len(self.secret) <= _BLOCK else hashlib.sha256(self.secret).digest()
        block = block.ljust(_BLOCK, b"\0")
        object.__setattr__(self, "_inner", hashlib.sha256(block.translate(_IPAD)))
        object.__setattr__(self, "_outer", hashlib.sha256(block.translate(_OPAD)))
        object.__setattr__(self, "ident", self._hmac(_KEY_ID_MESSAGE)[:_KEY_ID_BYTES])

    def __reduce__(self) -> tuple[type[Key], tuple[bytes]]:
        return Key, (self.secret,)  # hash states do not pickle; they are made again from the secret

    def _hmac(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def kid(self, style: Style) -> str:
        return style.encode(self.ident)

    def mac(self, message: str, style: Style) -> str:
        return style.encode(self._hmac(message.encode()))[: style.mac_chars]


@dataclass(frozen=True)
class Keyring:
    """The signing keys, newest first: tokens are made with the first, checked with any."""

    keys: tuple[Key, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a keyring needs at least one key")

    @classmethod
    def of(cls, current: str | bytes, previous: Iterable[str | bytes] = ()) -> Keyring:
        """The ring of ``current`` and the ``previous`` keys (newest first); repeats are dropped."""
        secrets: list[bytes] = []
        for value in (current, *previous):
            raw = value.encode() if isinstance(value, str) else value
            if raw not in secrets:
                secrets.append(raw)
        return cls(tuple(Key(s) for s in secrets))

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the keys, newest first, as they appear in ``URLSAFE`` tokens (not secret)."""
        return tuple(k.kid(URLSAFE) for k in self.keys)

    def sign(self, purpose: TokenPurpose, payload: str, *, style: Style = URLSAFE) -> str:
        """``payload`` signed for ``purpose`` with the newest key.

        The payload must fit the style (``URLSAFE``: ``[A-Za-z0-9._-]``; ``HEX``: ``[0-9a-z._-]``;
        1 to 200 characters): anything else is a programming error (``ValueError``)."""
        _check_purpose(purpose, TOKEN_PURPOSES)
        if not style.payload.fullmatch(payload):
            raise ValueError(f"payload {payload[:40]!r} does not fit the {style.name} style")
        key = self.keys[0]
        return f"{payload}{style.separator}{key.kid(style)}{key.mac(f'{purpose}|{payload}', style)}"

    def verify(self, purpose: TokenPurpose, token: str, *, style: Style = URLSAFE) -> str:
        """The payload of a token this ring signed for ``purpose``; anything else raises
        ``InvalidToken``, whatever is wrong with it (forged, cut, another purpose, retired key)."""
        _check_purpose(purpose, TOKEN_PURPOSES)
        if not isinstance(token, str) or not token.isascii():  # compare_digest wants ASCII
            raise InvalidToken("malformed")
        if style.folds_case:
            token = token.lower()
        n = style.sig_chars
        if not n + 2 <= len(token) <= n + 1 + MAX_PAYLOAD or token[-n - 1] != style.separator:
            raise InvalidToken("malformed")
        payload, kid, mac = token[: -n - 1], token[-n : -style.mac_chars], token[-style.mac_chars :]
        if not (style.payload.fullmatch(payload) and style.sig.fullmatch(kid + mac)):
            raise InvalidToken("malformed")
        candidates = [k for k in self.keys if hmac.compare_digest(k.kid(style), kid)]
        if not candidates:
            raise InvalidToken("unknown or retired key")
        message = f"{purpose}|{payload}"
        if not _any_matches(candidates, message, mac, style):
            raise InvalidToken("bad signature")
        return payload

    def verify_legacy(
        self, purpose: TokenPurpose, fields: Sequence[str], mac: str, *, style: Style = URLSAFE
    ) -> None:
        """Check a token made before tokens carried a key id: a bare MAC (of ``style``'s length)
        over ``purpose|field|field...``. Tried with every key of the ring, so such a link works
        for as long as the key that made it is kept, the same rule as for new tokens. Remove
        once no mail sent before key ids can still be acted on."""
        _check_purpose(purpose, TOKEN_PURPOSES)
        if not isinstance(mac, str) or not mac.isascii():
            raise InvalidToken("malformed")
        if style.folds_case:
            mac = mac.lower()
        if not style.mac.fullmatch(mac) or any("|" in f or not f.isascii() for f in fields):
            raise InvalidToken("malformed")
        if not _any_matches(self.keys, "|".join((purpose, *fields)), mac, style):
            raise InvalidToken("bad signature")

    def pseudonym(self, purpose: PseudonymPurpose, value: str) -> str:
        """A keyed SHA-256 of ``value`` (64 hex characters) that stands in for it in stored
        records: the same in every process that has the same newest key."""
        _check_purpose(purpose, PSEUDONYM_PURPOSES)
        return hmac.new(self.keys[0].secret, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


def _check_purpose(purpose: str, allowed: frozenset[str]) -> None:
    if purpose not in allowed:
        raise ValueError(f"{purpose!r} is not one of {sorted(allowed)}")


def _any_matches(keys: Iterable[Key], message: str, mac: str, style: Style) -> bool:
    matched = False
    for key in keys:  # every candidate is computed: the time does not say which one matched
        matched |= hmac.compare_digest(key.mac(message, style), mac)
    return matched
