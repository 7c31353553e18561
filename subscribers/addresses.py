"""Address checking with email-validator: the normalised form is what we store and compare."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from mailer.core.arabic import has_bidi_controls
from mailer.core.errors import InvalidAddress

BAD_ADDRESS = "عنوان البريد الإلكتروني غير صالح، يرجى التحقق منه."
NO_SMTPUTF8 = "لا يمكننا حالياً إرسال البريد إلى عنوان يحتوي على حروف غير لاتينية قبل @."
FULL_WIDTH = "يحتوي العنوان على حروف عريضة (full-width)، يرجى كتابته بالحروف العادية."


@dataclass(frozen=True)
class Address:
    normalized: str  # Unicode form, e.g. user@مثال.عراق
    ascii: str | None  # IDNA form for SMTP; None when the local part itself needs SMTPUTF8

    @property
    def smtp(self) -> str:
        """The form to put in the envelope: ASCII where there is one."""
        return self.ascii or self.normalized

    @property
    def key(self) -> str:
        """The mailbox this address names, for "one subscriber per mailbox": see ``mailbox_key``."""
        return mailbox_key(self.normalized)


def mailbox_key(normalized: str) -> str:
    """Two addresses name one mailbox when their normalised forms are equal ignoring case. The
    domain is case-insensitive by definition; RFC 5321 lets a server tell ``Ali@`` from ``ali@``,
    but none of the big providers does, and a list that mails both copies is worse than a server
    that would have told them apart. Mail still goes to the address as it was first given."""
    return normalized.lower()


def _full_width(text: str) -> bool:
    return any(unicodedata.east_asian_width(ch) == "F" for ch in text)


def check(address: str, *, field: str = "email", smtputf8: bool = True) -> Address:
    """Validate syntax only (no DNS: tests and air-gapped hosts must work).

    Strict RFC 5321 lengths (64 characters before the @). A domain is mapped by IDNA rules, so
    full-width letters there become ASCII; full-width letters before the @ are refused, since no
    real mailbox has them and they imitate an ASCII address. ``smtputf8=False`` (the relay cannot
    carry SMTPUTF8) refuses non-ASCII local parts; IDN domains always work through their IDNA form.
    """
    if any(ch in address for ch in "\r\n\x00") or has_bidi_controls(address):
        raise InvalidAddress(field, "contains line breaks, NUL or bidi controls",
                             public_message=BAD_ADDRESS)
    address = address.strip()
    local = address.rpartition("@")[0]
    if _full_width(local):
        raise InvalidAddress(field, "full-width characters before the @", public_message=FULL_WIDTH)
    try:
        info = validate_email(address, check_deliverability=False, allow_smtputf8=True, strict=True)
    except EmailNotValidError as exc:
        raise InvalidAddress(field, str(exc), public_message=BAD_ADDRESS) from None
    if info.ascii_email is None and not smtputf8:
        raise InvalidAddress(
            field, "the local part needs SMTPUTF8, which the configured relay does not support "
            "(MAILER_SMTPUTF8)", public_message=NO_SMTPUTF8,
        )
    return Address(info.normalized, info.ascii_email)


# A plain ASCII address with no IDNA label: email-validator would only lower-case its domain
# (or refuse it), so its canonical form is the lower-cased address either way.
_PLAIN = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


def canonical(address: str) -> str:
    """The form addresses are compared in for suppression: normalised (IDN domains in Unicode,
    whether given as ``xn--`` or not), then lower-cased; what cannot be parsed is only lower-cased."""
    address = address.strip()
    lowered = address.lower()
    if _PLAIN.fullmatch(address) and "xn--" not in lowered:
        return lowered  # the sender asks this for every recipient: no parsing for the usual case
    try:
        normalized = validate_email(
            address.strip(), check_deliverability=False, allow_smtputf8=True
        ).normalized
    except EmailNotValidError:
        normalized = address.strip()
    return normalized.lower()


# An ASCII dot-atom local part (RFC 5322 atext, dots only between atoms): email-validator accepts
# every one of up to 64 characters and returns it unchanged, so only the domain needs its work.
_DOT_ATOM_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_ADDRESS_MAX = 254  # email-validator's limit on the whole address, in UTF-8 bytes, in each of its forms
_DOMAINS_KEPT = 100_000  # a file of a million distinct domains must not hold them all


class BatchChecker:
    """``check`` for many addresses at once (a CSV import): the same result and the same error
    for every address, but each distinct domain is validated once. The usual address (an ASCII
    dot-atom before the @) is put together from its local part and its domain's checked form;
    anything else, and any address whose domain fails, goes through ``check`` itself, so every
    error message is exactly ``check``'s. The property tests hold the two equal."""

    def __init__(self, *, field: str = "email", smtputf8: bool = True) -> None:
        self.field = field
        self.smtputf8 = smtputf8
        self._domains: dict[str, Address | None] = {}  # domain as given -> "x@domain" checked, None: failed

    def __call__(self, address: str) -> Address:
        local, at, domain = address.rpartition("@")
        if at and len(local) <= 64 and _DOT_ATOM_LOCAL.fullmatch(local):
            try:
                known = self._domains[domain]
            except KeyError:
                known = self._domain(domain)
            if known is not None and known.ascii is not None:
                normalized, ascii_form = local + known.normalized[1:], local + known.ascii[1:]
                if max(_utf8_length(address), _utf8_length(normalized), len(ascii_form)) <= _ADDRESS_MAX:
                    return Address(normalized, ascii_form)
        return check(address, field=self.field, smtputf8=self.smtputf8)

    def _domain(self, domain: str) -> Address | None:
        try:
            found: Address | None = check("x@" + domain, field=self.field, smtputf8=self.smtputf8)
        except InvalidAddress:
            found = None
        if found is not None and (found.normalized[:2] != "x@" or (found.ascii or "")[:2] != "x@"):
            found = None  # not the shape assumed above: let ``check`` see each such address
        if len(self._domains) < _DOMAINS_KEPT:
            self._domains[domain] = found
        return found


def _utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", errors="surrogatepass"))
