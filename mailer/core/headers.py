"""Header values: the guard against injection, and the identity every message carries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.core.errors import InvalidHeader
from mailer.core.settings import Settings

# C0 controls (CR, LF, NUL, ...) and DEL can end a header or smuggle a new one.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}")


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
    subject_style: str | None = None  # the list's subject style hook (settings: lists.KEY.subject_style)
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
            subject_style=news_list.subject_style if news_list else None,
            immediate=bool(news_list and news_list.immediate),
        )

    def unsubscribe_url(self, token: str) -> str:
        return f"{self.base_url}/u/{token}"

    def preferences_url(self, token: str) -> str:
        return f"{self.base_url}/p/{token}"

    def message_id(self, local: str) -> str:
        return f"<{local}@{self.domain}>"
