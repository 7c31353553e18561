"""Reading and writing subscribers, and checking the fields people type about themselves."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Table, column, delete, select, table, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import NullType

from mailer.core.arabic import BIDI_CONTROLS
from mailer.core.db import analyze as db_analyze
from mailer.core.db import fetch_plain, foreign_keys_known_to_hold, insert_rows, one_of
from mailer.core.errors import InvalidInput
from mailer.core.lists import NewsList
from mailer.core.models import Section
from mailer.core.settings import Settings
from subscribers.addresses import Address, check, mailbox_key
from subscribers.models import STATUSES, Subscriber, SubscriberList, SubscriberSection
from subscribers.search import email_search_key, name_search_key
from subscribers.tokens import new_link_keys

T = TypeVar("T")
NAME_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NO_BIDI = str.maketrans(dict.fromkeys(BIDI_CONTROLS))
# the sections table belongs to the mailer side; this package only reads its ids and names
_SECTIONS = table("sections", column("id"), column("name"))
# the words of the old frequency column, for CSV files and forms made before lists were data
OLD_WORDS = {"يومي": "daily", "يومية": "daily", "أسبوعي": "weekly", "أسبوعية": "weekly"}
CHOOSE_A_LIST = "اختر نشرة واحدة على الأقل."


def check_name(value: str | None, *, field: str = "name") -> str | None:
    """A display name: line breaks and other controls are refused (they are header injection in
    waiting), invisible bidi controls are dropped, blank becomes None."""
    if value is None:
        return None
    bad = _CONTROL.search(value)
    if bad:
        raise InvalidInput(field, f"contains the control character U+{ord(bad.group()):04X}",
                           public_message="يحتوي الاسم على محارف غير مسموح بها.")
    value = value.translate(_NO_BIDI).strip()
    if len(value) > NAME_MAX:
        raise InvalidInput(field, f"is longer than {NAME_MAX} characters",
                           public_message=f"الاسم أطول من {NAME_MAX} حرفاً.")
    return value or None


def check_lists(lists: Mapping[str, NewsList], values: Iterable[str], *, field: str = "lists") -> tuple[str, ...]:
    """The lists named, each by its key or its Arabic name, in the order of the settings' ``lists``;
    at least one. The words of the old frequency column (يومي, أسبوعي) name ``daily`` and ``weekly``."""
    names = {v.name: k for k, v in lists.items()}
    chosen = set()
    for raw in values:
        word = raw.strip()
        key = word.lower() if word.lower() in lists else names.get(word) or OLD_WORDS.get(word)
        if key not in lists:
            raise InvalidInput(field, f"{raw[:40]!r} is not one of the lists ({', '.join(lists)})",
                               public_message="إحدى النشرات المختارة غير موجودة.")
        chosen.add(key)
    if not chosen:
        raise InvalidInput(field, "choose at least one list", public_message=CHOOSE_A_LIST)
    return tuple(k for k in lists if k in chosen)


def main_list(settings: Settings, lists: Iterable[str]) -> str:
    """The list a one-off notice names (its label, its List-Id): the subscriber's first in the
    settings' order, or the first list of the settings for someone without one."""
    mine = set(lists)
    return next((k for k in settings.lists if k in mine), next(iter(sorted(mine)), next(iter(settings.lists))))


async def section_names(session: AsyncSession) -> dict[int, str]:
    """Every section the site has, id to name, in name order."""
    rows = await session.execute(select(_SECTIONS.c.id, _SECTIONS.c.name).order_by(_SECTIONS.c.name))
    return {int(i): str(n) for i, n in rows}


async def check_sections(session: AsyncSession, ids: Iterable[int | str], *, field: str = "sections") -> frozenset[int]:
    """Section ids as sent by a form or JSON; each must exist."""
    wanted: set[int] = set()
    for raw in ids:
        text = str(raw).strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 9):  # ids are positive INTEGERs
            raise InvalidInput(field, f"{text[:40]!r} is not a section id",
                               public_message="أحد الأقسام المختارة غير موجود.")
        wanted.add(int(text))
    if wanted:
        known = set(await session.scalars(select(_SECTIONS.c.id).where(_SECTIONS.c.id.in_(wanted))))
        unknown = sorted(wanted - known)
        if unknown:
            raise InvalidInput(field, f"no section with id {unknown[0]}",
                               public_message="أحد الأقسام المختارة غير موجود.")
    return frozenset(wanted)


async def by_email(session: AsyncSession, email: str) -> Subscriber | None:
    address = check(email)
    return await by_address(session, address)


async def by_address(session: AsyncSession, address: Address) -> Subscriber | None:
    stmt = select(Subscriber).where(Subscriber.email_key == address.key)
    return (await session.scalars(stmt)).first()


async def add(
    session: AsyncSession,
    email: str | Address,
    *,
    now: datetime,
    name: str | None = None,
    status: str = "pending",
    lists: Iterable[str] = (),
    sections: Iterable[int] = (),
    source: str | None = None,
) -> Subscriber:
    """Insert a subscriber with their lists (keys, checked by the caller with ``check_lists``),
    or return the existing one with that address unchanged."""
    if status not in STATUSES:
        raise InvalidInput("status", f"{status!r} is not one of {', '.join(STATUSES)}")
    address = email if isinstance(email, Address) else check(email)
    existing = await by_address(session, address)
    if existing is not None:
        return existing
    sub = Subscriber(
        email=address.normalized, email_ascii=address.ascii, name=name, status=status,
        created_at=now, updated_at=now, source=source, confirmed_at=now if status == "confirmed" else None,
    )
    session.add(sub)
    await session.flush()
    await set_lists(session, sub.id, lists)
    await set_sections(session, sub.id, sections)
    return sub


async def add_many(
    session: AsyncSession, new: Sequence[Subscriber], lists: Sequence[Iterable[str]], sections: Sequence[Iterable[int]]
) -> None:
    """Insert subscribers known to be new (one flush for all), each with its lists and sections."""
    session.add_all(new)
    await session.flush()
    session.add_all(
        SubscriberList(subscriber_id=sub.id, list_name=key)
        for sub, chosen in zip(new, lists, strict=True) for key in set(chosen)
    )
    session.add_all(
        SubscriberSection(subscriber_id=sub.id, section_id=section_id)
        for sub, chosen in zip(new, sections, strict=True) for section_id in set(chosen)
    )
    await session.flush()


SUBSCRIBER_COLUMNS = ("email", "email_key", "email_ascii", "name", "status", "source", "created_at", "updated_at",
                      "confirmed_at", "bounce_score", "no_shares", "link_key", "search_email", "search_name")


async def insert_many(
    session: AsyncSession, rows: Sequence[Mapping[str, Any]], lists: Sequence[Iterable[str]],
    sections: Sequence[Iterable[int]],
) -> list[int]:
    """Insert subscribers known to be new, each with its lists and sections, without an ORM object
    or SQLAlchemy's work per row (a CSV import of a million): ``insert_values`` of
    ``subscriber_values``. Returns the new ids."""
    return await insert_values(session, subscriber_values(rows), lists, sections)


def subscriber_values(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows of the columns of ``SUBSCRIBER_COLUMNS`` but the derived ones (``email_key``,
    ``link_key``, the console's search keys) as tuples in that order, the derived ones filled in
    as the model's validators would. Pure: an import makes them off the loop, ahead of writing."""

    def derived(row: Mapping[str, Any], link_key: str) -> dict[str, Any]:
        email = str(row["email"])
        return {**row, "email_key": mailbox_key(email), "link_key": link_key,
                "search_email": email_search_key(email), "search_name": name_search_key(row.get("name"))}

    return [
        tuple(full.get(c) for c in SUBSCRIBER_COLUMNS)
        for full in (derived(row, link) for row, link in zip(rows, new_link_keys(len(rows)), strict=True))
    ]


_KEY = SUBSCRIBER_COLUMNS.index("email_key")


async def insert_values(
    session: AsyncSession, values: Sequence[tuple[Any, ...]], lists: Sequence[Iterable[str]],
    sections: Sequence[Iterable[int]],
) -> list[int]:
    """Insert ``subscriber_values`` rows known to be new, each with its lists and sections: COPY on
    PostgreSQL, executemany on SQLite (``insert_rows``). Returns the new ids."""
    if not values:
        return []
    await insert_rows(session, _table(Subscriber), SUBSCRIBER_COLUMNS, values)
    keys = [row[_KEY] for row in values]
    found: dict[str | None, int] = {key: sid for key, sid in await session.execute(
        select(Subscriber.email_key, Subscriber.id).where(one_of(session, Subscriber.email_key, keys))
    )}
    ids = [found[key] for key in keys]
    chosen_sections = [(sid, section) for sid, chosen in zip(ids, sections, strict=True) for section in set(chosen)]
    # The rows below reference subscribers this transaction has just inserted (no other can see,
    # so none can delete them) and sections it locks here as each row's check would, once for
    # all: their foreign key checks cannot fail (unless a section went away meanwhile, which
    # the checks are then left on to report).
    wanted = {section for _, section in chosen_sections}
    locked = set(await session.scalars(
        select(Section.id).where(Section.id.in_(wanted)).with_for_update(key_share=True))) if wanted else set()
    tables = [_table(SubscriberList), _table(SubscriberSection)]
    held = foreign_keys_known_to_hold(session, tables) if locked == wanted else nullcontext(False)
    async with held:
        await insert_rows(session, tables[0], ("subscriber_id", "list_name"),
                          [(sid, key) for sid, chosen in zip(ids, lists, strict=True) for key in set(chosen)])
        await insert_rows(session, tables[1], ("subscriber_id", "section_id"), chosen_sections)
    return ids


def _table(model: type[Any]) -> Table:
    """A model's table, for Core statements (executemany of plain rows)."""
    found: Table = model.__table__
    return found


async def set_lists(session: AsyncSession, subscriber_id: int, lists: Iterable[str]) -> None:
    await session.execute(delete(SubscriberList).where(SubscriberList.subscriber_id == subscriber_id))
    session.add_all(SubscriberList(subscriber_id=subscriber_id, list_name=key) for key in set(lists))
    await session.flush()


async def lists_of(session: AsyncSession, subscriber_ids: Sequence[int]) -> dict[int, frozenset[str]]:
    """The lists each subscriber takes (absent: none)."""
    return await _per_subscriber(session, SubscriberList.subscriber_id, SubscriberList.list_name, subscriber_ids)


async def set_sections(session: AsyncSession, subscriber_id: int, sections: Iterable[int]) -> None:
    await session.execute(delete(SubscriberSection).where(SubscriberSection.subscriber_id == subscriber_id))
    for section_id in set(sections):
        session.add(SubscriberSection(subscriber_id=subscriber_id, section_id=section_id))
    await session.flush()


async def sections_of(session: AsyncSession, subscriber_ids: Sequence[int]) -> dict[int, frozenset[int]]:
    """The chosen sections of each subscriber (absent or empty: every section)."""
    return await _per_subscriber(session, SubscriberSection.subscriber_id, SubscriberSection.section_id, subscriber_ids)


async def _per_subscriber(
    session: AsyncSession, owner: InstrumentedAttribute[int], value: InstrumentedAttribute[T], ids: Sequence[int]
) -> dict[int, frozenset[T]]:
    """A subscriber-to-values table (lists, sections) read for some subscribers, in one query."""
    found: dict[int, set[T]] = {}
    if ids:
        for sid, item in await session.execute(select(owner, value).where(owner.in_(list(ids)))):
            found.setdefault(sid, set()).add(item)
    return {sid: frozenset(items) for sid, items in found.items()}


async def existing_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Which of these mailboxes (``Address.key``) already belong to a subscriber (one query)."""
    if not keys:
        return set()
    return set(await session.scalars(select(Subscriber.email_key).where(one_of(session, Subscriber.email_key, keys))))


async def analyze(session: AsyncSession) -> None:
    """Refresh the planner's statistics of the subscriber tables after a bulk import: PostgreSQL
    plans the next edition's ``INSERT ... SELECT`` from them (a plan made for an empty table, on
    a million rows)."""
    await db_analyze(session, _table(Subscriber), _table(SubscriberList), _table(SubscriberSection))


class ExportRow(NamedTuple):
    id: int
    email: str
    name: str | None
    status: str
    source: str | None
    created_at: datetime
    confirmed_at: datetime | None


ExportPage = tuple[list[ExportRow], dict[int, set[str]], dict[int, set[int]]]


async def export_pages(session: AsyncSession, *, status: str | None = None, size: int = 10_000
                       ) -> AsyncIterator[ExportPage]:
    """Subscribers' export columns (plain rows, keyset pages in id order), each page with the
    lists and sections of its id range, read by one query apiece."""
    if status is not None and status not in STATUSES:
        raise InvalidInput("status", f"{status!r} is not one of {', '.join(STATUSES)}")
    connection = await session.connection()
    dialect = connection.dialect
    as_datetime = Subscriber.created_at.type.dialect_impl(dialect).result_processor(dialect, None)
    known: dict[Any, datetime] = {}

    def times(value: Any) -> datetime:
        try:
            return known[value]
        except KeyError:
            found: datetime = as_datetime(value) if as_datetime else value
            known[value] = found
            if len(known) > 100_000:
                known.clear()
            return found

    after = 0
    while True:
        # plain rows from the driver (``fetch_plain``); the times as the driver gives them
        # (SQLite: text), made datetimes by ``times`` below, once per distinct value: an import's
        # rows share theirs, and parsing each is most of a page
        stmt = (
            select(Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.status, Subscriber.source,
                   type_coerce(Subscriber.created_at, NullType()).label("created_at"),
                   type_coerce(Subscriber.confirmed_at, NullType()).label("confirmed_at"))
            .where(Subscriber.id > after).order_by(Subscriber.id).limit(size)
        )
        if status is not None:
            stmt = stmt.where(Subscriber.status == status)
        raw = await fetch_plain(session, stmt)
        if not raw:
            return
        subs = [ExportRow(i, email, name, status_, source, times(created), times(confirmed) if confirmed else None)
                for i, email, name, status_, source, created, confirmed in raw]
        first, last = subs[0].id, subs[-1].id
        taken: dict[int, set[str]] = {}
        for sid, key in await fetch_plain(session, select(SubscriberList.subscriber_id, SubscriberList.list_name)
                                          .where(SubscriberList.subscriber_id.between(first, last))):
            taken.setdefault(sid, set()).add(key)
        chosen: dict[int, set[int]] = {}
        for sid, section_id in await fetch_plain(session, select(SubscriberSection.subscriber_id,
                                                                 SubscriberSection.section_id)
                                                 .where(SubscriberSection.subscriber_id.between(first, last))):
            chosen.setdefault(sid, set()).add(section_id)
        yield subs, taken, chosen
        after = last


async def page(
    session: AsyncSession, *, status: str | None = None, after_id: int = 0, limit: int = 500
) -> list[Subscriber]:
    """Subscribers in id order from ``after_id`` on: keyset paging for lists and exports."""
    stmt = select(Subscriber).where(Subscriber.id > after_id).order_by(Subscriber.id).limit(limit)
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput("status", f"{status!r} is not one of {', '.join(STATUSES)}")
        stmt = stmt.where(Subscriber.status == status)
    return list(await session.scalars(stmt))
