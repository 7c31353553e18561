"""Header values: the guard against injection, and the identity every message carries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.core.errors import InvalidHeader
from mailer.core.settings import Settings

# C0 controls (CR, LF, NUL, ...) and DEL can end a header or smuggle a new one.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}")

LIST_LABELS = {"daily": "النشرة اليومية", "weekly": "النشرة الأسبوعية"}


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

    @classmethod
    def for_list(cls, settings: Settings, list_name: str) -> Identity:
        return cls(
            from_name=guard("sender_name", settings.from_name),
            from_address=guard("sender_address", settings.sender_address),
            list_name=list_name,
            list_label=LIST_LABELS.get(list_name, list_name),
            list_id=f"{list_name}.{settings.mail_domain}",
            domain=settings.mail_domain,
            base_url=settings.base_url,
            unsubscribe_mailto=settings.unsubscribe_mailto,
        )

    def unsubscribe_url(self, token: str) -> str:
        return f"{self.base_url}/u/{token}"

    def preferences_url(self, token: str) -> str:
        return f"{self.base_url}/p/{token}"

    def message_id(self, local: str) -> str:
        return f"<{local}@{self.domain}>"
