"""Header values: the guard against injection, and the identity every message carries."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from mailer.core.errors import InvalidHeader
from mailer.core.settings import Settings

# C0 controls (CR, LF, NUL, ...) and DEL can end a header or smuggle a new one.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}")

# UTF-8 bytes per encoded-word: 40 bytes are 56 base64 characters, a 68-character word, so that
# "Subject: " and a word fit a 78-character line (RFC 5322 2.1.1).
_WORD_BYTES = 40
_FEEDBACK_FIELD = re.compile(r"[^A-Za-z0-9._-]")


def encode_words(text: str, *, phrase: bool = False) -> str:
    """``text`` as RFC 2047 encoded-words, folded, for an unstructured header (or, ``phrase``,
    a display name).

    Every character, spaces included, goes inside an encoded-word: RFC 2047 (section 6.2) tells
    decoders to drop the white space *between* two encoded-words, and the ``email`` package's
    folder (CPython gh-144156) puts a word's space there ("Apple تكشف" arrived "Appleتكشف").
    Each word holds whole characters, never half of a UTF-8 sequence. A display name is one
    word, however long (the line limit is 998): some decoders, the ``email`` package's address
    parser among them, keep the white space between two words of a phrase, others drop it, so
    only an unsplit name reads the same in all. Plain ASCII without "=?" is left as it is."""
    if text.isascii() and "=?" not in text:
        return text
    if phrase:
        return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="
    words: list[str] = []
    chunk = b""
    for ch in text:
        data = ch.encode()
        if chunk and len(chunk) + len(data) > _WORD_BYTES:
            words.append(chunk.decode())
            chunk = b""
        chunk += data
    if chunk:
        words.append(chunk.decode())
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode()).decode()}?=" for w in words)


def guard(field: str, value: str) -> str:
    """Return ``value`` if it is safe in a header, else raise ``InvalidHeader`` naming ``field``."""
    bad = _FORBIDDEN.search(value)
    if bad:
        raise InvalidHeader(
            field, f"contains the control character U+{ord(bad.group()):04X} (CR, LF and NUL are refused)"
        )
    return value


def guard_ascii_address(field: str, value: str) -> str:
    """An envelope/header address for the fast path: plain ASCII ``local@domain``, nothing else."""
    guard(field, value)
    if not _ASCII_ADDRESS.fullmatch(value):
        raise InvalidHeader(field, f"{value!r} is not a plain ASCII address")
    return value


@dataclass(frozen=True)
class Identity:
    """Who a list's mail is from, and where its unsubscribe and preference links point."""

    from_name: str
    from_address: str
    list_name: str
    list_label: str
    list_id: str
    domain: str
    base_url: str
    unsubscribe_mailto: str
    template_dir: str = ""  # templates/email/{template_dir}/ is searched first
    immediate: bool = False  # a breaking-news list: mail goes out as news breaks, not on a schedule

    @classmethod
    def for_list(cls, settings: Settings, list_name: str) -> Identity:
        """A list of the settings (its name, sender name and template directory), or another
        kind of mail by its name (``share``), with the site's defaults."""
        news_list = settings.lists.get(list_name)
        return cls(
            from_name=guard("sender_name", (news_list and news_list.sender_name) or settings.from_name),
            from_address=guard("sender_address", settings.sender_address),
            list_name=list_name,
            list_label=news_list.name if news_list else list_name,
            list_id=f"{list_name}.{settings.mail_domain}",
            domain=settings.mail_domain,
            base_url=settings.base_url,
            unsubscribe_mailto=settings.unsubscribe_mailto,
            template_dir=(news_list and news_list.template) or list_name,
            immediate=bool(news_list and news_list.immediate),
        )

    def unsubscribe_url(self, token: str) -> str:
        return f"{self.base_url}/u/{token}"

    def preferences_url(self, token: str) -> str:
        return f"{self.base_url}/p/{token}"

    def archive_url(self) -> str:
        """The list's past editions, public (``mailer/web/archive.py``)."""
        return f"{self.base_url}/archive/{self.list_name}"

    def web_url(self, edition_id: int) -> str:
        """An edition's public web version, the "view in browser" link: no personal data."""
        return f"{self.archive_url()}/{edition_id}"

    def message_id(self, local: str) -> str:
        return f"<{local}@{self.domain}>"

    def feedback_id(self, kind: str) -> str:
        """Gmail's Feedback-ID, ``list:kind:sender``: complaint rates per list and kind of mail."""
        return ":".join(_FEEDBACK_FIELD.sub("-", part) for part in (self.list_name, kind, self.domain))
