"""Rendered content + identity + recipient in, MIME bytes out. Pure: no clock, session or socket.

Two paths give the same message:

* ``build_message`` builds one ``EmailMessage`` for one recipient (the reference, also used for
  previews and for addresses that need SMTPUTF8);
* ``MessageTemplate`` builds that message once per edition variant with slot markers in place of
  the personal parts, and ``personalise`` fills the slots into pre-built bytes. Bodies are base64
  (7-bit safe, so no relay re-encodes them and breaks a DKIM body hash); each static stretch is
  pre-encoded at all three byte alignments, so a recipient costs a few tiny encodes, not a
  re-encode of the whole body.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from mailer.core.arabic import isolate_html, strip_controls
from mailer.core.errors import InvalidHeader, MailerError
from mailer.core.headers import Identity, encode_words, guard, guard_ascii_address

# refold_source="none": a header added with ``set_raw`` (a long one-click URL) is sent as given,
# not turned into encoded words that no client reads as a URL.
SMTP_POLICY = policy.SMTP.clone(refold_source="none")
SMTPUTF8_POLICY = policy.SMTPUTF8.clone(refold_source="none")

# Slot markers: plain ASCII words that survive Jinja2, premailer and the email package unchanged.
SLOTS = {
    "to": "mailerslottozq@mailerslot.invalid",
    "msgid": "mailerslotmsgidzq",
    "token": "mailerslottokenzq",
    "pref": "mailerslotprefzq",
    "name_html": "mailerslotnamehtmlzq",
    "name_text": "mailerslotnametextzq",
    "reader": "mailerslotreaderzq",  # per-reader tracked links (compose/tracking.py); else empty
}
_BODY_MARKERS = {"text": "mailerslotbodytextzq", "html": "mailerslotbodyhtmlzq"}
# A subject that holds a personal part (a name) is encoded per recipient, as a whole: a marker
# inside an encoded-word could not be found in the bytes.
_SUBJECT_MARKER = "mailerslotsubjectzq"
_SLOT_RE = re.compile("|".join(re.escape(m) for m in (*SLOTS.values(), _SUBJECT_MARKER)).encode())
_MARKER_TO_SLOT = {m.encode(): name for name, m in (*SLOTS.items(), ("subject", _SUBJECT_MARKER))}

# Automatic replies must not answer these (RFC 3834): mail sent because someone asked for it.
AUTO_SUBMITTED_KINDS = frozenset({"confirm", "confirm_address", "welcome"})
_B64_LINE = 57  # bytes per 76-character base64 line


def scrub_markers(text: str) -> str:
    """Remove slot markers from untrusted content so an article cannot aim at a slot."""
    for marker in (*SLOTS.values(), *_BODY_MARKERS.values(), _SUBJECT_MARKER):
        text = text.replace(marker, "")
    return text


@dataclass(frozen=True)
class Rendered:
    """One edition variant, rendered and inlined, with slot markers for the personal parts."""

    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class Personal:
    """What differs from one recipient to the next."""

    to: str  # envelope and header address
    message_id: str  # left of the "@"; stable per (edition, subscriber) so retries keep it
    token: str = ""  # unsubscribe token (URL-safe)
    pref_token: str = ""  # preferences token (URL-safe)
    name: str | None = None
    reader: str = ""  # the reader token of tracked links, with MAILER_TRACKING=per_reader

    def values(self) -> dict[str, str]:
        name = strip_controls(self.name or "").strip()
        return {
            "to": self.to,
            "msgid": self.message_id,
            "token": self.token,
            "pref": self.pref_token,
            "name_html": f" {isolate_html(name)}" if name else "",
            "name_text": f" {name}" if name else "",
            "reader": self.reader,
        }


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace the slot markers in ``text`` (the reference path; the fast path works on bytes)."""
    for name, marker in SLOTS.items():
        if marker in text:
            text = text.replace(marker, values[name])
    return text


def _canonical(text: str) -> bytes:
    """UTF-8 with CRLF line ends and a final CRLF: what ``EmailMessage.set_content`` encodes."""
    return b"\r\n".join(text.encode().splitlines()) + b"\r\n"


def subject_header(subject: str) -> str:
    """The Subject's value on the wire: RFC 2047 words that keep every space (``encode_words``)."""
    return encode_words(guard("subject", subject))


def _set_address(msg: EmailMessage, header: str, field: str, value: str) -> None:
    """An address header, parsed by the ``email`` package; the input it cannot parse (an
    unclosed ``<``: CPython's parser raises ``IndexError`` there; a group inside a group,
    ``a:b:;;``: ``AttributeError``) is refused naming ``field``."""
    try:
        msg[header] = value
    except (IndexError, AttributeError, HeaderParseError) as exc:
        raise InvalidHeader(field, f"{value!r} is not an address") from exc


def build_message(
    rendered: Rendered,
    identity: Identity,
    date: datetime,
    personal: Personal,
    *,
    kind: str = "digest",
    list_headers: bool = True,
    reply_to: str | None = None,
) -> EmailMessage:
    """The whole message for one recipient, built with ``EmailMessage`` and ``headerregistry``;
    the display names and the Subject are encoded by ``encode_words`` (the ``email`` package's
    folder can lose the space between an Arabic and a Latin word) and set raw."""
    values = personal.values()
    for field in ("to", "msgid", "token", "pref", "reader"):
        guard(field, values[field])
    msg = EmailMessage(policy=SMTP_POLICY)
    from_name = guard("from_name", identity.from_name)
    if from_name.isascii():
        msg["From"] = Address(from_name, addr_spec=identity.from_address)
    else:
        msg.set_raw("From", f"{encode_words(from_name, phrase=True)}\r\n <{identity.from_address}>")
    _set_address(msg, "To", "to", values["to"])
    if reply_to:
        _set_address(msg, "Reply-To", "reply_to", guard("reply_to", reply_to))
    msg.set_raw("Subject", subject_header(fill(rendered.subject, values)))
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = identity.message_id(values["msgid"])
    if kind in AUTO_SUBMITTED_KINDS:
        msg["Auto-Submitted"] = "auto-generated"
    if list_headers:
        msg["Feedback-ID"] = identity.feedback_id(kind)
        label = encode_words(guard("list_label", identity.list_label), phrase=True)
        msg.set_raw("List-Id", f"{label}\r\n <{identity.list_id}>")
        unsubscribe = guard("unsubscribe", identity.unsubscribe_url(values["token"]))
        mailto = guard(
            "unsubscribe", f"mailto:{identity.unsubscribe_mailto}?subject=unsubscribe%20{values['token']}"
        )
        if not (unsubscribe + mailto).isascii():
            raise InvalidHeader("unsubscribe", "List-Unsubscribe must be ASCII (use xn-- host names)")
        # raw and folded by hand: the email package would turn a long URL into encoded words,
        # which no client reads as a URL
        msg.set_raw("List-Unsubscribe", f"<{unsubscribe}>,\r\n <{mailto}>")
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(fill(rendered.text, values), cte="base64")
    msg.add_alternative(fill(rendered.html, values), subtype="html", cte="base64")
    for part in msg.iter_parts():  # add_alternative repeats MIME-Version in the html part
        del part["MIME-Version"]
    msg["Content-Language"] = "ar"  # after the content: setting it clears every Content-* header
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    """Flatten for SMTP with CRLF line ends; an address with a non-ASCII local part needs UTF-8
    headers (RFC 6532, sent with SMTPUTF8): an encoded-word is not allowed in an address."""
    utf8 = any(
        not address.addr_spec.isascii()
        for name in ("From", "To", "Reply-To")
        if msg[name] is not None
        for address in msg[name].addresses
    )
    return msg.as_bytes(policy=SMTPUTF8_POLICY if utf8 else SMTP_POLICY)


def _b64_lines(data: bytes) -> bytes:
    """Base64 in lines of at most 76 characters, each ending in CRLF."""
    b2a = binascii.b2a_base64
    if len(data) <= _B64_LINE:  # the pieces around a slot: one line, or nothing
        return b2a(data, newline=False) + b"\r\n" if data else b""
    return b"".join(
        b2a(data[i : i + _B64_LINE], newline=False) + b"\r\n" for i in range(0, len(data), _B64_LINE)
    )


def _split(data: bytes) -> tuple[list[bytes], list[str]]:
    """Static stretches and, between them, the names of the slots that separate them."""
    parts = _SLOT_RE.split(data)
    markers = _SLOT_RE.findall(data)
    return parts, [_MARKER_TO_SLOT[m] for m in markers]


class _Base64Splice:
    """A base64 body with holes: each static stretch is pre-encoded at offsets 0, 1 and 2, so that
    filling a hole only encodes the few bytes around it (base64 pieces that each hold a multiple of
    three bytes concatenate into valid base64)."""

    def __init__(self, body: bytes) -> None:
        self.segments, self.slots = _split(body)
        self.pre = [tuple(self._aligned(seg, a) for a in range(3)) for seg in self.segments]

    @staticmethod
    def _aligned(segment: bytes, offset: int) -> tuple[bytes, bytes]:
        rest = segment[offset:]
        cut = len(rest) - len(rest) % 3
        return _b64_lines(rest[:cut]), rest[cut:]

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        segments, pre = self.segments, self.pre
        encoded, carry = pre[0][0]
        out = [encoded]
        for i, slot in enumerate(self.slots, start=1):
            head = carry + values[slot]
            segment = segments[i]
            need = -len(head) % 3
            if need > len(segment):  # too short to realign on: carry it into the next piece
                carry = head + segment
                continue
            out.append(_b64_lines(head + segment[:need]))
            encoded, carry = pre[i][need]
            out.append(encoded)
        out.append(_b64_lines(carry))
        return b"".join(out)


Part = bytes | str | _Base64Splice


class MessageTemplate:
    """One variant's message as pre-built bytes; ``personalise`` costs microseconds a recipient."""

    def __init__(self, parts: Sequence[Part], subject: str | None = None) -> None:
        self.parts = tuple(parts)
        self.subject = subject  # a subject with personal parts, encoded per recipient

    @classmethod
    def build(
        cls, rendered: Rendered, identity: Identity, date: datetime, *, kind: str = "digest",
        list_headers: bool = True,
    ) -> MessageTemplate:
        personal_subject = _SLOT_RE.search(rendered.subject.encode()) is not None
        skeleton = Rendered(
            subject=_SUBJECT_MARKER if personal_subject else rendered.subject,
            html=_BODY_MARKERS["html"], text=_BODY_MARKERS["text"],
        )
        markers = Personal(
            to=SLOTS["to"], message_id=SLOTS["msgid"], token=SLOTS["token"], pref_token=SLOTS["pref"]
        )
        msg = build_message(skeleton, identity, date, markers, kind=kind, list_headers=list_headers)
        data = msg.as_bytes(policy=SMTP_POLICY)
        # the markers' slot values went in verbatim; turn the two body markers into splices
        bodies = {
            "text": _Base64Splice(_canonical(rendered.text)),
            "html": _Base64Splice(_canonical(rendered.html)),
        }
        parts: list[Part] = []
        rest = data
        for kind in ("text", "html"):
            encoded = _b64_lines(f"{_BODY_MARKERS[kind]}\r\n".encode())
            before, found, rest = rest.partition(encoded)
            if not found:
                raise MailerError(f"compose: the {kind} body marker was not found in the template")
            parts.extend(cls._header_parts(before))
            parts.append(bodies[kind])
        parts.extend(cls._header_parts(rest))
        return cls(parts, rendered.subject if personal_subject else None)

    @staticmethod
    def _header_parts(data: bytes) -> list[Part]:
        segments, slots = _split(data)
        parts: list[Part] = [segments[0]]
        for slot, segment in zip(slots, segments[1:], strict=True):
            parts.extend((slot, segment))
        return parts

    def personalise(self, personal: Personal) -> bytes:
        values = personal.values()
        guard_ascii_address("to", values["to"])
        for field in ("msgid", "token", "pref", "reader"):
            guard(field, values[field])
        encoded = {k: v.encode() for k, v in values.items()}
        if self.subject is not None:
            encoded["subject"] = subject_header(fill(self.subject, values)).encode()
        return b"".join(
            p if isinstance(p, bytes) else encoded[p] if isinstance(p, str) else p.fill(encoded)
            for p in self.parts
        )
