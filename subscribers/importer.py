"""CSV import and export of subscribers: each bad row is named by its line and the rest imported;
importing the same file again changes nothing."""

from __future__ import annotations

import codecs
import csv
import functools
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, NamedTuple, Protocol, TextIO

from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import hold_write_lock, insert_rows, one_of, unique_violation
from mailer.core.errors import Conflict, InvalidInput
from mailer.core.lists import NewsList
from mailer.core.settings import Settings
from subscribers import flows, store, suppression
from subscribers.addresses import Address, BatchChecker

log = logging.getLogger(__name__)

COLUMNS = ("email", "name", "lists", "sections")  # ``frequency`` (the old one-list column) too
EXPORT_COLUMNS = ("email", "name", "status", "lists", "sections", "source", "created_at", "confirmed_at")
SECTION_SEPARATOR = "|"  # between section names, and between lists
SAVE_AS_UTF8 = "ترميز الملف غير مقروء: احفظه بصيغة \"CSV UTF-8\"."
RACES = 3  # writes of a chunk that the site's new subscribers may refuse, before giving up
BAD_CSV = "تعذّرت قراءة هذا السطر بصيغة CSV (علامة اقتباس غير مغلقة مثلاً)."
CELL_MESSAGES = {
    "encoding": SAVE_AS_UTF8,
    "name": "الاسم غير صالح: طويل جداً أو فيه محارف تحكّم.",
    "lists": "نشرة غير معروفة: استعمل مفاتيح النشرات أو أسماءها مفصولة بـ |.",
    "frequency": "نشرة غير معروفة: استعمل مفاتيح النشرات أو أسماءها مفصولة بـ |.",
    "sections": "قسم غير معروف: استعمل أسماء الأقسام كما في الموقع مفصولة بـ |.",
    "email": "عنوان البريد الإلكتروني غير صالح.",
}
# a cell starting with one of these is a formula to Excel and LibreOffice: exports prefix "'"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Row:
    line: int
    address: Address
    name: str | None
    lists: tuple[str, ...]
    sections: frozenset[int]


@dataclass(frozen=True)
class Problem:
    line: int
    message: str  # names the column, e.g. "email: The email address is not valid."
    field: str = ""  # the column (or "encoding", "header", "csv"), for the console's report
    public: str = ""  # the same in Arabic, for the console's report

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"

    @property
    def column(self) -> str:
        """The column the problem is about (the message starts with it when ``field`` is empty)."""
        return self.field or self.message.partition(":")[0].strip()


@dataclass
class Report:
    """The problems of an import in bounded memory, whatever the file: how many there were, by
    column, and the first ``keep`` of them (fed in line order, a chunk at a time). A file of a
    million rows with a misspelt section has a million problems; an operator needs the first few
    and the count, and the whole list in a file (``mailer subscribers import --problems``)."""

    keep: int = 20
    first: list[Problem] = field(default_factory=list)
    by_column: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def add(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.total += 1
            self.by_column[problem.column] = self.by_column.get(problem.column, 0) + 1
            if len(self.first) < self.keep:
                self.first.append(problem)

    @property
    def more(self) -> int:
        """How many problems are not among ``first``."""
        return self.total - len(self.first)


@dataclass
class Parsed:
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def last_line(self) -> int:
        """The last line of the file that these rows and problems cover (0: none)."""
        return max([row.line for row in self.rows[-1:]] + [problem.line for problem in self.problems], default=0)


def _unescape(cell: str) -> str:
    """Undo the export's formula guard so an export imports back unchanged."""
    return cell[1:] if cell.startswith("'") and cell[1:2] in _FORMULA_START else cell


def escape_cell(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _records(text: TextIO) -> Iterator[tuple[int, list[str] | str]]:
    """(first line, cells) per CSV record, or (line, error) for a record csv cannot read."""
    reader = csv.reader(text, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, f"csv: {exc}"
            if reader.line_num < start:  # nothing consumed: stop rather than loop
                return
            continue
        yield start, cells


def parse(
    data: bytes, *, lists: Mapping[str, NewsList], sections: Mapping[str, int], smtputf8: bool = True
) -> Parsed:
    """Read a UTF-8 CSV file (UTF-16 with a byte-order mark too) whose first line names the
    columns (``email`` required; ``name``, ``lists`` (or the old ``frequency``) and ``sections``
    optional, other columns ignored); a row without lists takes the first of ``lists`` (the
    settings'). The second row of one mailbox is refused, naming the first. Pure: no database."""
    out = Parsed()
    seen: dict[str, int] = {}
    for chunk in stream(io.BytesIO(data), lists=lists, sections=sections, smtputf8=smtputf8, size=len(data) + 1):
        out.problems += chunk.problems
        for row in chunk.rows:
            first = seen.setdefault(row.address.key, row.line)
            if first != row.line:
                out.problems.append(duplicate(row.line, first))
            else:
                out.rows.append(row)
    out.problems.sort(key=lambda p: p.line)  # one problem a record: the file's order
    return out


def duplicate(line: int, first: int) -> Problem:
    return Problem(line, f"email: duplicate of line {first}", "email", f"العنوان مكرر: ورد في السطر {first}.")


def stream(
    file: IO[bytes], *, lists: Mapping[str, NewsList], sections: Mapping[str, int], smtputf8: bool = True,
    size: int = 5000,
) -> Iterator[Parsed]:
    """``parse`` a block at a time: the file's rows and problems by ``size`` records, in the memory
    of one chunk however long the file (a million rows). Every check and message is ``parse``'s
    but one: a second row of a mailbox in a later chunk is the caller's to find (``parse`` keeps
    its first lines in memory, the import command in a temporary table). A file-wide problem
    (encoding, header) is the only thing yielded."""
    head = file.read(200)
    file.seek(0)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode" export
        bad = _not_utf16(file)  # read through once first: a bad byte anywhere imports nothing
        if bad is not None:
            yield Parsed(problems=[Problem(1, f"encoding: not valid UTF-16 ({bad}); save the file as \"CSV UTF-8\"",
                                           "encoding", SAVE_AS_UTF8)])
            return
        file.seek(0)
        text = io.TextIOWrapper(file, encoding="utf-16", newline="")
    elif b"\x00" in head:
        yield Parsed(problems=[Problem(1, "encoding: the file looks like UTF-16 without a byte-order mark; "
                                          "save it as \"CSV UTF-8\"", "encoding", SAVE_AS_UTF8)])
        return
    else:
        text = io.TextIOWrapper(file, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        yield from _chunks(_records(text), lists, sections, smtputf8, size)
    finally:
        text.detach()  # the caller's file stays open: it closes it


def _not_utf16(file: IO[bytes]) -> str | None:
    """Why the file is not UTF-16 (``UnicodeDecodeError.reason``), or None; a block at a time."""
    decoder = codecs.getincrementaldecoder("utf-16")()
    try:
        while block := file.read(1 << 20):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return exc.reason
    return None


def _chunks(
    records: Iterator[tuple[int, list[str] | str]], lists: Mapping[str, NewsList], sections: Mapping[str, int],
    smtputf8: bool, size: int,
) -> Iterator[Parsed]:
    out = Parsed()
    header: dict[str, int] = {}
    for line, cells in records:
        if isinstance(cells, str):
            out.problems.append(Problem(line, cells, "csv", BAD_CSV))
            yield out
            return
        if not any(c.strip() for c in cells):
            continue
        header = {c.strip().lower(): i for i, c in enumerate(cells)}
        if "email" not in header:
            out.problems.append(Problem(line, "header: no 'email' column (the first line names the columns)",
                                        "header", "لا يوجد عمود email: يجب أن يسمّي السطر الأول الأعمدة."))
            yield out
            return
        break
    read = _RowReader(header, lists, sections, smtputf8)
    for line, cells in records:
        if isinstance(cells, str):
            out.problems.append(Problem(line, cells, "csv", BAD_CSV))
        elif not any(c.strip() for c in cells):
            continue
        else:
            try:
                out.rows.append(read(line, cells))
            except InvalidInput as exc:
                out.problems.append(Problem(line, exc.message, exc.field, _arabic(exc)))
        # bad rows count too: a file of bad rows is read in the memory of a chunk as well
        if len(out.rows) + len(out.problems) >= size:
            yield out
            out = Parsed()
    if out.rows or out.problems:
        yield out


def _arabic(exc: InvalidInput) -> str:
    """The Arabic of a refused cell: the error's own where it has one, else one per column."""
    if exc.public_message != InvalidInput.public_message:
        return exc.public_message
    return CELL_MESSAGES.get(exc.field, exc.public_message)


_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, kept by surrogateescape


class _RowReader:
    """One row's cells to a ``Row``. The addresses are checked by a ``BatchChecker`` (each domain
    once) and a lists or sections cell already seen is not parsed again: a file of a million
    rows has a handful of distinct ones. Errors are exactly those of the checks themselves."""

    def __init__(self, header: Mapping[str, int], lists: Mapping[str, NewsList], sections: Mapping[str, int],
                 smtputf8: bool) -> None:
        self.columns = {name: header.get(name) for name in ("email", "name", "lists", "frequency", "sections")}
        self.lists = lists
        self.sections = sections
        self.address = BatchChecker(smtputf8=smtputf8)
        self._lists: dict[tuple[str, str], tuple[str, ...]] = {}
        self._sections: dict[str, frozenset[int]] = {}

    def cell(self, cells: list[str], name: str) -> str:
        i = self.columns[name]
        return _unescape(cells[i]) if i is not None and i < len(cells) else ""

    def __call__(self, line: int, cells: list[str]) -> Row:
        if any(_UNDECODABLE.search(c) for c in cells):
            raise InvalidInput("encoding", "not valid UTF-8 (save the file as \"CSV UTF-8\")")
        address = self.address(self.cell(cells, "email"))
        name = store.check_name(self.cell(cells, "name"))
        column = "lists" if self.cell(cells, "lists").strip() else "frequency"
        raw = self.cell(cells, column)
        taken = self._lists.get((column, raw))
        if taken is None:
            named = [w for w in raw.split(SECTION_SEPARATOR) if w.strip()]
            taken = store.check_lists(self.lists, named or [next(iter(self.lists))], field=column)
            self._lists[(column, raw)] = taken
        raw = self.cell(cells, "sections")
        chosen = self._sections.get(raw)
        if chosen is None:
            chosen = self._section_ids(raw)
            self._sections[raw] = chosen
        return Row(line, address, name, taken, chosen)

    def _section_ids(self, raw: str) -> frozenset[int]:
        chosen = set()
        for wanted in (s.strip() for s in raw.split(SECTION_SEPARATOR)):
            if not wanted:
                continue
            if wanted not in self.sections:
                raise InvalidInput("sections", f"unknown section {wanted!r}")
            chosen.add(self.sections[wanted])
        return frozenset(chosen)


@dataclass
class Applied:
    added: int = 0
    existing: int = 0
    skipped: list[Problem] = field(default_factory=list)  # suppressed addresses, never re-added


@dataclass
class Prepared:
    """A chunk's per-row work done ahead of writing it (``prepare``, off the loop, while the
    previous chunk is written): ``apply`` is then mostly the database's."""

    hashes: dict[str, str]  # address (normalised) -> ``suppression.address_hash``
    values: dict[int, tuple[Any, ...]]  # line -> ``store.subscriber_values`` row


def prepare(rows: Sequence[Row], *, now: datetime, confirmed: bool) -> Prepared:
    """What ``apply`` computes per row, computed ahead. Pure."""
    hashes = {r.address.normalized: suppression.address_hash(r.address.normalized) for r in rows}
    values = dict(zip((r.line for r in rows), store.subscriber_values([_new(r, now, confirmed) for r in rows]),
                      strict=True))
    return Prepared(hashes, values)


_LINK_KEY = store.SUBSCRIBER_COLUMNS.index("link_key")


class _Added(NamedTuple):
    """A subscriber the import has just written, as its confirmation link needs it (``flows.Linked``)."""

    id: int
    link_key: str | None


def _new(row: Row, now: datetime, confirmed: bool) -> dict[str, Any]:
    """A new subscriber's columns: confirmed now (the operator vouches), or pending its link."""
    return {"email": row.address.normalized, "email_ascii": row.address.ascii, "name": row.name,
            "status": "confirmed" if confirmed else "pending",
            "source": "import-confirmed" if confirmed else "import", "created_at": now, "updated_at": now,
            "confirmed_at": now if confirmed else None, "bounce_score": 0, "no_shares": False}


async def apply(
    session: AsyncSession,
    settings: Settings,
    rows: Sequence[Row],
    *,
    now: datetime,
    confirmed: bool,
    notify: flows.Notify,
    prepared: Prepared | None = None,
) -> Applied:
    """Add the rows that are new. ``confirmed`` (the operator vouches for the list) adds them as
    confirmed with no mail; otherwise each gets a confirmation link like a form subscription.
    Existing subscribers are left as they are; suppressed addresses are never added.
    ``prepared``: ``prepare(rows, now=now, confirmed=confirmed)`` (or of more rows), made ahead.

    A mailbox that the site adds between the check and the write (``/subscribe`` during an
    import) is counted as already there: on SQLite the write lock is taken before the check; on
    PostgreSQL, where writers do not take turns, the unique index refuses the import's row and
    the chunk is written again from a savepoint."""
    await hold_write_lock(session)
    postgres = session.get_bind().dialect.name == "postgresql"
    for attempt in range(1, RACES + 1):
        try:
            async with session.begin_nested() if postgres else nullcontext():
                return await _apply(session, settings, rows, now, confirmed, notify, prepared)
        except IntegrityError as exc:
            if not unique_violation(exc):
                raise
            log.info("a subscriber of this import was added meanwhile (attempt %d of %d): writing the chunk again",
                     attempt, RACES)
    raise Conflict(
        f"the site kept adding subscribers of these rows while they were imported ({RACES} tries), so they "
        "were not: run the import again",
        public_message="أضاف الموقع بعض مشتركي هذه الأسطر أثناء استيرادها، فلم تُستورد. أعد الاستيراد.",
    )


async def _apply(session: AsyncSession, settings: Settings, rows: Sequence[Row], now: datetime, confirmed: bool,
                 notify: flows.Notify, prepared: Prepared | None) -> Applied:
    result = Applied()
    emails = [r.address.normalized for r in rows]
    existing = await store.existing_keys(session, [r.address.key for r in rows])
    blocked = await suppression.reasons(session, emails, prepared.hashes if prepared else None)
    fresh: list[Row] = []
    for row in rows:
        email = row.address.normalized
        if row.address.key in existing:
            result.existing += 1
        elif email in blocked:
            result.skipped.append(Problem(row.line, f"email: on the suppression list ({blocked[email]})", "email",
                                          "العنوان محظور (في قائمة الحظر)، فلم يُضف."))
        else:
            fresh.append(row)
    # plain rows, no ORM object each (a million confirmed rows in seconds)
    values = ([prepared.values[r.line] for r in fresh] if prepared else
              store.subscriber_values([_new(r, now, confirmed) for r in fresh]))
    ids = await store.insert_values(session, values, [r.lists for r in fresh], [r.sections for r in fresh])
    result.added = len(fresh)
    if not confirmed and ids:  # each gets its confirmation link, the chunk's made and queued together
        targets = [(_Added(sid, row[_LINK_KEY]), r.address) for sid, row, r in zip(ids, values, fresh, strict=True)]
        await flows.confirmations(session, settings, targets, "subscribe", now=now, notify=notify)
    return result


_SEEN = Table("import_seen", MetaData(), Column("key", String), Column("line", Integer))


class Seen:
    """The first line of each mailbox in the file so far, for ``stream``'s chunks: kept in a
    temporary table of the import's connection rather than in memory (a million keys were about
    150 MB of dict), one look-up and one bulk insert a chunk; it outlives each chunk's transaction
    on a ``Database.pinned`` session. Made by ``start``, dropped by ``close``; one left on a pooled
    connection by an import that failed is dropped by the next ``start``."""

    @classmethod
    async def start(cls, session: AsyncSession) -> Seen:
        await session.execute(text("DROP TABLE IF EXISTS import_seen"))  # SQLite keeps one on a pooled connection
        await session.execute(text(
            "CREATE TEMPORARY TABLE import_seen (key VARCHAR PRIMARY KEY, line INTEGER NOT NULL)"))
        return cls()

    async def first(self, session: AsyncSession, parsed: Parsed) -> list[Row]:
        """``parsed``'s rows that are the first of their mailbox; the others become problems of
        ``parsed`` ("duplicate of line N"), as ``parse`` makes them."""
        keys = list({row.address.key for row in parsed.rows})
        before: dict[str, int] = {key: line for key, line in await session.execute(
            select(_SEEN.c.key, _SEEN.c.line).where(one_of(session, _SEEN.c.key, keys)))} if keys else {}
        mine: dict[str, int] = {}
        firsts = []
        for row in parsed.rows:
            key = row.address.key
            first = before.get(key) or mine.setdefault(key, row.line)
            if first != row.line:
                parsed.problems.append(duplicate(row.line, first))
            else:
                firsts.append(row)
        await insert_rows(session, _SEEN, ("key", "line"), list(mine.items()))
        return firsts

    async def close(self, session: AsyncSession) -> None:
        await session.execute(text("DROP TABLE IF EXISTS import_seen"))


class Exported(Protocol):
    """What an export row is made of: a ``Subscriber`` or a row of its columns."""

    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def source(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def confirmed_at(self) -> datetime | None: ...


def export_row(sub: Exported, lists: Sequence[str], section_names: Sequence[str]) -> list[str]:
    # escape_cell, inlined, for the cells people or settings write; the status is one of
    # STATUSES and the times start with their year: never a formula
    free = [sub.email, sub.name or "", SECTION_SEPARATOR.join(lists), SECTION_SEPARATOR.join(section_names),
            sub.source or ""]
    email, name, taken, chosen, source = (c if c[:1] not in _FORMULA_FIRST else "'" + c for c in free)
    return [email, name, sub.status, taken, chosen, source, _isoformat(sub.created_at),
            _isoformat(sub.confirmed_at) if sub.confirmed_at else ""]


_FORMULA_FIRST = frozenset(_FORMULA_START)


@functools.lru_cache(maxsize=4096)
def _isoformat(moment: datetime) -> str:
    """Rows made together (an import) share their times: each is written once."""
    return moment.isoformat()


EXPORT_PAGE = 10_000


async def export(
    session: AsyncSession, write: Callable[[list[list[str]]], object], *, status: str | None = None,
    page: int = EXPORT_PAGE,
) -> int:
    """Every subscriber (of ``status``) in id order as ``export_row`` cells, handed to ``write`` a
    page at a time (``csv.writer(...).writerows``); returns how many. Plain rows, no ORM object
    each, and each page's lists and sections by one id-range query apiece: a million in seconds,
    in the memory of one page."""
    names = await store.section_names(session)
    by_sections: dict[frozenset[int], list[str]] = {}  # a handful of distinct choices: sorted once each
    by_lists: dict[frozenset[str], list[str]] = {}

    def sorted_names(ids: frozenset[int]) -> list[str]:
        found = by_sections.get(ids)
        if found is None:
            found = by_sections[ids] = sorted(names[i] for i in ids if i in names)
        return found

    def sorted_lists(keys: frozenset[str]) -> list[str]:
        found = by_lists.get(keys)
        if found is None:
            found = by_lists[keys] = sorted(keys)
        return found

    nothing: frozenset[Any] = frozenset()
    count = 0
    async for subs, taken, chosen in store.export_pages(session, status=status, size=page):
        write([
            export_row(sub, sorted_lists(frozenset(taken.get(sub.id, nothing))),
                       sorted_names(frozenset(chosen.get(sub.id, nothing))))
            for sub in subs
        ])
        count += len(subs)
    return count
