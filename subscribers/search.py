"""The console's subscriber search: normalised search keys (pure), and a keyset page of
subscribers by address prefix, name prefix or newest first, with filters by status, list and
section. Never OFFSET: a page is one index range from where the last one stopped, so the
thousandth page costs what the first does."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.errors import InvalidInput

KEY_MAX = 200
PAGE_SIZE = 50
BY = ("email", "name")
# tashkeel, Quranic marks and the tatweel: not typed when searching, so not compared
_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})
_SPACES = re.compile(r"\s+")
_ARABIC = re.compile("[\u0600-\u06ff]")


def name_search_key(name: str | None) -> str | None:
    """A name as the search compares it: NFKC, case folded, without Arabic marks or tatweel, the
    hamza forms of alef folded to alef (and ى to ي, ة to ه), spaces collapsed."""
    if name is None:
        return None
    text = _MARKS.sub("", unicodedata.normalize("NFKC", name)).casefold().translate(_FOLD)
    return _SPACES.sub(" ", text).strip()[:KEY_MAX] or None


def email_search_key(email: str) -> str:
    """An address as the search compares it: NFKC and lower case."""
    return unicodedata.normalize("NFKC", email).strip().lower()[:KEY_MAX]


def guess_by(q: str) -> str:
    """What a query names when the form does not say: an address if it has "@" or no Arabic
    letter in it, else a name."""
    return "email" if "@" in q or not _ARABIC.search(q) else "name"


def _upper(prefix: str) -> str:
    """The first string after every string that starts with ``prefix`` (in code point order)."""
    return prefix + "\U0010ffff"


@dataclass(frozen=True)
class Query:
    """A console search, already checked."""

    q: str = ""
    by: str = "email"
    status: str | None = None
    list_name: str | None = None
    section_id: int | None = None
    after: str | None = None  # the cursor the last page ended with (``Page.next``)
    limit: int = PAGE_SIZE

    @property
    def key(self) -> str:
        return (email_search_key(self.q) if self.by == "email" else name_search_key(self.q)) or ""


@dataclass(frozen=True)
class Page:
    ids: list[int]
    next: str | None  # the cursor of the next page, None on the last one


def _cursor(by: str | None, value: str | None, row_id: int) -> str:
    return f"{row_id}" if by is None else f"{row_id}:{value or ''}"


def _parse_cursor(cursor: str) -> tuple[int, str]:
    head, _, tail = cursor.partition(":")
    try:
        return int(head), tail
    except ValueError:
        raise InvalidInput("after", "not a page cursor", public_message="رابط الصفحة التالية غير صالح.") from None


def statement(query: Query) -> tuple[Select[int, str | None], str | None]:
    """The SQL of one page (one more row than asked, to know whether there is a next page) and
    the column the cursor carries."""
    from subscribers.models import Subscriber, SubscriberList, SubscriberSection

    key = query.key
    searching = bool(query.q.strip()) and bool(key)
    column = None
    if searching:
        column = Subscriber.search_email if query.by == "email" else Subscriber.search_name
        stmt = select(Subscriber.id, column).where(column >= key, column < _upper(key))
        if query.after:
            after_id, after_value = _parse_cursor(query.after)
            stmt = stmt.where(or_(column > after_value, and_(column == after_value, Subscriber.id > after_id)))
        stmt = stmt.order_by(column, Subscriber.id)
    else:
        stmt = select(Subscriber.id, Subscriber.search_email)  # newest first
        if query.after:
            stmt = stmt.where(Subscriber.id < _parse_cursor(query.after)[0])
        stmt = stmt.order_by(Subscriber.id.desc())
    if query.status:
        stmt = stmt.where(Subscriber.status == query.status)
    if query.list_name:
        stmt = stmt.where(exists().where(SubscriberList.list_name == query.list_name,
                                         SubscriberList.subscriber_id == Subscriber.id))
    if query.section_id is not None:
        stmt = stmt.where(exists().where(SubscriberSection.subscriber_id == Subscriber.id,
                                         SubscriberSection.section_id == query.section_id))
    return stmt.limit(query.limit + 1), ("search" if searching else None)


async def find(session: AsyncSession, query: Query) -> Page:
    """One page of subscriber ids for ``query``, and the cursor of the next."""
    stmt, mode = statement(query)
    rows = list((await session.execute(stmt)).all())
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    nxt = _cursor(query.by if mode else None, rows[-1][1], rows[-1][0]) if more and rows else None
    return Page([r[0] for r in rows], nxt)
