"""Address checking with email-validator: the normalised form is what we store and compare."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from mailer.arabic import has_bidi_controls
from mailer.errors import InvalidAddress

BAD_ADDRESS = "عنوان البريد الإلكتروني غير صالح، يرجى التحقق منه."


@dataclass(frozen=True)
class Address:
    normalized: str  # Unicode form, e.g. user@مثال.عراق
    ascii: str | None  # IDNA form for SMTP; None when the local part itself needs SMTPUTF8


def check(address: str, *, field: str = "email", smtputf8: bool = True) -> Address:
    """Validate syntax only (no DNS: tests and air-gapped hosts must work)."""
    if any(ch in address for ch in "\r\n\x00") or has_bidi_controls(address):
        raise InvalidAddress(field, "contains line breaks, NUL or bidi controls",
                             public_message=BAD_ADDRESS)
    try:
        info = validate_email(address.strip(), check_deliverability=False, allow_smtputf8=smtputf8)
    except EmailNotValidError as exc:
        raise InvalidAddress(field, str(exc), public_message=BAD_ADDRESS) from None
    return Address(info.normalized, info.ascii_email)
