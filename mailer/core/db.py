"""Engine, sessions, the declarative base and migrations: the one place that knows the database."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, DateTime, MetaData, String, Table, any_, bindparam, event, func, select, text
from sqlalchemy import insert as insert_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

MIGRATIONS = Path(__file__).parents[1] / "migrations"

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def insert(session: AsyncSession, table: Any) -> Any:
    """``INSERT`` with ``on_conflict_do_*`` for whichever database the session talks to."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def one_of(session: AsyncSession, column: Any, values: Sequence[str]) -> Any:
    """``column IN (values)`` with the values as one parameter, for thousands of them (an import's
    chunk): ``IN`` with a bound parameter per value costs SQLAlchemy tens of microseconds each to
    render. PostgreSQL: ``= ANY(array)``; SQLite: ``IN (SELECT value FROM json_each(...))``."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    listed = func.json_each(bindparam(None, json.dumps(list(values)), type_=String)).table_valued("value")
    return column.in_(select(listed.c.value))


async def insert_rows(session: AsyncSession, table: Table, columns: Sequence[str],
                      rows: Sequence[Sequence[Any]]) -> None:
    """Many plain rows into one table within the session's transaction, past SQLAlchemy's
    per-row work (a CSV import of a million): PostgreSQL's COPY (asyncpg), SQLite's
    executemany. Values go to the driver as they are: each column's bind processing (our
    ``UTCDateTime``) is applied here."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    converters = [_converter(table.c[name].type, dialect) for name in columns]
    if any(converters):
        rows = [tuple(v if convert is None else convert(v) for convert, v in zip(converters, row, strict=True))
                for row in rows]
    driver = await _driver(connection)
    if dialect.name == "postgresql":
        async with _as_sqlalchemy_errors(f"COPY {table.name}"):
            await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))
        return
    compiled = insert_(table).values({name: bindparam(name) for name in columns}).compile(dialect=dialect)
    order = [list(columns).index(name) for name in compiled.positiontup or ()]  # the table's column order
    if order != list(range(len(columns))):
        rows = [tuple(row[i] for i in order) for row in rows]
    async with _as_sqlalchemy_errors(str(compiled)):
        await driver.executemany(str(compiled), rows)


@asynccontextmanager
async def foreign_keys_known_to_hold(session: AsyncSession, tables: Sequence[Table]) -> AsyncIterator[bool]:
    """For the caller that has made sure every row it inserts into ``tables`` within the block
    references a row that exists and cannot go away before the transaction ends: PostgreSQL
    checks a foreign key with a trigger for each inserted row (a look-up and a lock of the
    parent row each: 90% of the time COPYing an import's list and section rows took). Within
    the block those triggers are off for this transaction, where the role may set
    ``session_replication_role`` (a superuser, or ``GRANT SET ON PARAMETER``, PostgreSQL 15)
    and ``tables`` have no trigger of their own, which would be skipped too. Yields whether
    they are off; SQLite's checks stay (an index look-up each), and so do all of them when
    ``tables`` is empty (it names what the caller vouches for)."""
    if not tables or session.get_bind().dialect.name != "postgresql":
        yield False
        return
    names = bindparam("tables", [t.name for t in tables], type_=ARRAY(String))
    own = await session.scalar(select(func.count()).select_from(text("pg_trigger")).where(
        text("NOT tgisinternal"), text("tgrelid = ANY(CAST(:tables AS regclass[]))").bindparams(names)))
    off = False
    if not own:
        try:
            async with session.begin_nested():  # refused, it leaves the transaction usable
                await session.execute(text("SET LOCAL session_replication_role = replica"))
            off = True
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
                raise
    yield off
    if off:  # not after an error: the transaction is rolled back, and the setting with it
        await session.execute(text("SET LOCAL session_replication_role = DEFAULT"))


async def analyze(session: AsyncSession, *tables: Table) -> None:
    """Refresh PostgreSQL's planner statistics of ``tables`` after a bulk insert, within the
    session's transaction (ANALYZE counts the rows it inserted, so the statistics commit with
    them): autovacuum's come later, or never for rows few beside a table's past, and plans made
    for the table as it was read or sort every new row. SQLite: nothing (no statistics are kept
    unless asked for, and its plans here do not need them)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"ANALYZE {', '.join(t.name for t in tables)}"))


async def execute_many(session: AsyncSession, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> int | None:
    """One statement for many parameter sets within the session's transaction, past SQLAlchemy's
    per-row work (building and processing every row's parameters cost more than the database's
    own work for a batch of outbox updates): compiled once, each distinct value of a column
    processed once. Returns the rows changed where the driver counts them (SQLite), else None
    (asyncpg's executemany counts nothing)."""
    if not rows:
        return 0
    connection = await session.connection()
    dialect = connection.dialect
    compiled = stmt.compile(dialect=dialect)
    # per placeholder: its name, whether each row must give it (else the statement's own value,
    # as in ``status == 'sending'``), and its type's conversion
    binds = [(name, compiled.binds[name]) for name in compiled.positiontup or ()]
    slots = [(name, bind.required, bind.effective_value, _converter(bind.type, dialect)) for name, bind in binds]
    params = []
    for row in rows:
        values = []
        for name, required, own, convert in slots:
            if required and name not in row:
                raise KeyError(f"execute_many: a row has no value for {name!r}")
            value = row.get(name, own)
            values.append(value if convert is None else convert(value))
        params.append(tuple(values))
    driver = await _driver(connection)
    async with _as_sqlalchemy_errors(str(compiled)):
        if dialect.name == "postgresql":
            await driver.executemany(str(compiled), params)
            return None
        cursor = await driver.executemany(str(compiled), params)
    return int(cursor.rowcount)


async def fetch_plain(session: AsyncSession, stmt: Any) -> Sequence[Sequence[Any]]:
    """A SELECT's rows as the driver gives them (asyncpg's records, sqlite3's tuples) within the
    session's transaction, past SQLAlchemy's work for each row (a fetch call through its cursor
    layers and a row object: a fifth of the time of a PostgreSQL export). The
    values are the database's own, unconverted: select columns whose type needs no conversion,
    or convert them (``type_coerce(column, NullType())`` says so)."""
    connection = await session.connection()
    dialect = connection.dialect
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        convert = _converter(bind.type, dialect)
        params.append(bind.effective_value if convert is None else convert(bind.effective_value))
    driver = await _driver(connection)
    async with _as_sqlalchemy_errors(str(compiled)):
        if dialect.name == "postgresql":
            rows: Sequence[Sequence[Any]] = await driver.fetch(str(compiled), *params)
        else:
            rows = await driver.execute_fetchall(str(compiled), params)
    return rows


def _converter(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """What SQLAlchemy itself would send for a value of ``type_`` (the dialect's form: SQLite's
    datetime text always has its microseconds), or None where it sends the value as it is. Each
    distinct value is converted once: a column's rows mostly share a few (``now``)."""
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return None
    done: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return done[value]
        except KeyError:
            done[value] = found = process(value)
            return found

    return convert


async def _driver(connection: AsyncConnection) -> Any:
    """The driver's own connection (aiosqlite's, asyncpg's) under the session's transaction.
    SQLAlchemy's asyncpg adapter opens its transaction at its first statement: a COPY sent past
    it as the first one would be committed on its own, and stay when the rest rolls back."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    if connection.dialect.name == "postgresql" and not driver.is_in_transaction():
        await connection.exec_driver_sql("SELECT 1")
    return driver


@asynccontextmanager
async def _as_sqlalchemy_errors(statement: str) -> AsyncIterator[None]:
    """The driver's errors, raised past SQLAlchemy, as SQLAlchemy's own (``IntegrityError`` for a
    broken constraint), so that callers catch one family whichever path wrote."""
    try:
        yield
    except Exception as exc:
        sqlstate = getattr(exc, "sqlstate", None)  # asyncpg's errors (an optional package)
        if not isinstance(exc, sqlite3.Error) and not isinstance(sqlstate, str):
            raise
        integrity = isinstance(exc, sqlite3.IntegrityError) or (sqlstate or "").startswith("23")
        raise (IntegrityError if integrity else DBAPIError)(statement, None, exc) from exc


async def serialise(session: AsyncSession, key: str) -> None:
    """Make transactions that call this with the same ``key`` (hex, 15 digits or more) take turns
    until commit, across every worker: a check-then-write (one share a day to this friend, one
    confirmation mail per interval to this address) cannot be passed twice at once. PostgreSQL:
    a transaction advisory lock on the key. SQLite: its single write lock, taken now by a write
    that changes nothing (a transaction that only read so far would hold no lock)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(key[:15], 16)})
    else:
        await hold_write_lock(session)


async def hold_write_lock(session: AsyncSession) -> None:
    """SQLite: take the file's one write lock now, by a write that changes nothing, and keep it
    until commit: a transaction that has only read holds none, and another writer could come
    between its check and its write. PostgreSQL: nothing (rows are locked one by one)."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("UPDATE installation SET id = id WHERE id = 0"))


def unique_violation(exc: IntegrityError) -> bool:
    """Whether PostgreSQL's unique index refused the row (SQLSTATE 23505), not another constraint.
    SQLite's writers take turns (``hold_write_lock``), so a check then write meets no such race."""
    return getattr(exc.orig, "sqlstate", None) == "23505"


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached for now (a connection refused, reset
    or dropped; SQLite's file locked past the busy timeout), so that the same work may succeed
    later, rather than a refusal of the work itself (a constraint, a trigger, a bug)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, OSError):  # asyncpg's connect raises ConnectionRefusedError as it is
            return True
        if isinstance(seen, sqlite3.OperationalError) and "locked" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Database:
    """An engine plus a session factory; one per process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writers = asyncio.Lock()
        database = self.engine.url.database if self.dialect == "sqlite" else None
        self._lock_path = f"{database}-writer.lock" if database and database != ":memory:" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """``transaction`` for work that writes and is many at once (a subscription per request,
        the sender's claims and records), in its ``turn``."""
        async with self.turn(), self.transaction() as session:
            yield session

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """SQLite has one write lock per file, and a connection that finds it taken sleeps in its
        busy handler (1, 2, 5 ... 100 ms) instead of being woken: eight subscriptions at once on
        eight connections made about 30 a second on one core, in turn about 20 times that, and
        two sending processes slept in it 141 times (3 s) in a 20,000-message send. So on SQLite
        writers take turns in this process (an asyncio lock) and across processes (an ``flock``
        on a file beside the database, which wakes the next one when it is released). A turn
        holds one short transaction. PostgreSQL: no lock, rows are locked one by one."""
        if self.dialect != "sqlite":
            yield
            return
        async with self._writers:
            held = await _lock_file(self._lock_path) if self._lock_path else None
            try:
                yield
            finally:
                if held is not None:
                    os.close(held)  # closing the descriptor releases its lock

    @asynccontextmanager
    async def pinned(self) -> AsyncIterator[AsyncSession]:
        """A session on one connection for its whole life, for work of many transactions (each
        ended by the caller's ``commit``) that keeps a temporary table from one to the next: a
        plain session takes a connection from the pool for each transaction."""
        async with self.engine.connect() as connection, AsyncSession(bind=connection,
                                                                     expire_on_commit=False) as session:
            yield session

    async def upgrade(self) -> None:
        """Apply every Alembic migration up to head (idempotent, safe on every start)."""
        if self.dialect == "sqlite":
            _ensure_sqlite_dir(self.url)
        async with self.engine.begin() as conn:
            await conn.run_sync(migrate)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def _lock_file(path: str) -> int | None:
    """An open descriptor of ``path`` holding an exclusive ``flock``, waiting in a thread while
    another process holds it; None when the file cannot be opened (a read-only directory): the
    busy handler still keeps the writes correct, only slower. A fresh descriptor each time: a
    wait given up (cancelled) closes its own once the thread returns, releasing nobody else's."""
    try:  # read-only is enough for flock: processes of other users can share the file
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        log.warning("SQLite writers cannot take turns through %s (%s): they wait in the busy handler", path, exc)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    except BaseException:
        os.close(fd)
        raise
    waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
    try:
        await asyncio.shield(waiting)
    except BaseException:
        waiting.add_done_callback(lambda _: os.close(fd))
        raise
    return fd


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (the web app) work while the sender writes; the busy timeout lets
    # several processes share one file without "database is locked" errors.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(connection: Connection, revision: str = "head", *, down: bool = False) -> None:
    """Alembic to ``revision`` on an open connection (``run_sync``): start-up, ``db upgrade`` and
    the migration tests, which go down and up again."""
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(cfg, revision)


Row = TypeVar("Row", bound=Base)


async def newest_first(
    session: AsyncSession, model: type[Row], before: int | None, size: int, *where: ColumnElement[bool]
) -> tuple[list[Row], int | None]:
    """One keyset page of ``model`` rows, newest (highest id) first and older than ``before``,
    never OFFSET; and the id the next page starts before, if there is one."""
    key: Any = model.id  # type: ignore[attr-defined]  # every table paged this way has an integer id
    stmt = select(model).where(*where).order_by(key.desc()).limit(size + 1)
    if before is not None:
        stmt = stmt.where(key < before)
    rows = list(await session.scalars(stmt))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more and rows else None)  # type: ignore[attr-defined]
