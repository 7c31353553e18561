"""Newsletters as data: each list a key, an Arabic name, a schedule (a cron line in the site's time
zone, or ``immediate`` for breaking news) and what it draws from, defined in the TOML settings
file under ``[lists.KEY]``. Without any, the two lists the service always had (``daily`` and
``weekly``) are the configuration, on ``MAILER_DAILY_CRON`` and ``MAILER_WEEKLY_CRON``.

A list key travels in unsubscribe links, ``List-Id`` and template paths, hence ``[a-z]{1,16}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IMMEDIATE = "immediate"
KEY = re.compile(r"[a-z]{1,16}")
RESERVED = frozenset({"share"})  # the name the share e-mail's identity goes by
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_DAILY_CAP = 3


class NewsList(BaseModel):
    """One newsletter. ``schedule`` is a five-field cron line or ``immediate``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)  # Arabic, shown to readers and editors
    schedule: str
    description: str = Field(default="", max_length=300)  # a line under the name on the forms
    sections: tuple[str, ...] = ()  # section names it draws from; empty: every section
    template: str | None = None  # templates/email/{template}/ is searched first; default: the key
    sender_name: str | None = Field(default=None, max_length=100)  # From display name
    subject_style: Literal["title", "headline"] | None = None  # default: MAILER_DIGEST_SUBJECT
    daily_cap: int | None = None  # immediate lists: alerts a day at most (default 3)

    @field_validator("name", "description", "sender_name")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if _CONTROL.search(value):
            raise ValueError("must not contain line breaks or control characters")
        if not value.strip() and value:
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        value = " ".join(value.split())
        if value == IMMEDIATE:
            return value
        from mailer.editions.schedule import parse_cron  # the one module that imports APScheduler

        try:
            parse_cron(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"{exc} (or 'immediate' for breaking news)") from None
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9_-]{1,40}", value):
            raise ValueError(f"{value!r} is not a template directory name (a-z, 0-9, '-', '_')")
        return value

    @field_validator("sections")
    @classmethod
    def _sections(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(s.strip() for s in value)
        if any(not s for s in cleaned):
            raise ValueError("a section name is empty")
        return cleaned

    @model_validator(mode="after")
    def _cap(self) -> NewsList:
        if self.daily_cap is not None:
            if not self.immediate:
                raise ValueError("daily_cap is for immediate lists only (schedule = 'immediate')")
            if self.daily_cap < 1:
                raise ValueError(f"daily_cap {self.daily_cap} must be 1 or more")
        return self

    @property
    def immediate(self) -> bool:
        return self.schedule == IMMEDIATE

    @property
    def cron(self) -> str | None:
        return None if self.immediate else self.schedule

    @property
    def cap(self) -> int:
        return self.daily_cap or DEFAULT_DAILY_CAP


def check_keys(lists: Mapping[str, NewsList]) -> None:
    """Every key usable in links and headers; raises ``ValueError`` naming the first bad one."""
    for key in lists:
        if key in RESERVED:
            raise ValueError(f"list key {key!r} is reserved; choose another")
        if not KEY.fullmatch(key):
            raise ValueError(
                f"list key {key!r} must be 1 to 16 lower-case Latin letters (it goes into unsubscribe "
                "links and List-Id), e.g. [lists.morning]"
            )


def default_lists(daily_cron: str, weekly_cron: str) -> dict[str, NewsList]:
    """The configuration when the settings file defines no list."""
    return {
        "daily": NewsList(name="النشرة اليومية", schedule=daily_cron,
                          description="أبرز أخبار اليوم، مرة كل يوم"),
        "weekly": NewsList(name="النشرة الأسبوعية", schedule=weekly_cron,
                           description="أهم أخبار الأسبوع، مرة كل أسبوع"),
    }
