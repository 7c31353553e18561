"""The durable outbox: the only module with claim SQL.

A row moves ``pending -> sending -> sent | failed | unknown | skipped | dead`` (and back to
``pending`` for a retry). Every move is a compare-and-set on (status, lease owner, attempt), so a
worker whose lease expired cannot overwrite what another worker did since. The checkpoint is
written after the SMTP reply, never at claim time. A lease that expires (its worker died) puts the
row back to ``pending``, or to ``sent`` when the delivery journal says the server had accepted
it; the third time it may have been on a connection when its worker died (a row the journal
shows was never started does not count), it is dead-lettered with its history. Whether an edition is finished is
a query, never a counter in memory.

Over 400 lines on purpose: every statement that moves or counts outbox rows is here, so the
compare-and-set rules can be read in one place.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, exists, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mailer.core.db import analyze, execute_many, insert
from mailer.core.models import ALERT, Edition, OutboxMessage, OutboxTotal
from mailer.delivery.outcomes import Outcome, Verdict, backoff
from subscribers.models import Subscriber, SubscriberList

DIGEST_PRIORITY = 10
URGENT_PRIORITY = 0  # shares, confirmations, tests: ahead of any digest
OPEN = ("pending", "sending")
FINAL = ("sent", "failed", "unknown", "skipped", "dead")
DEAD_AFTER_RECOVERIES = 3  # a row whose lease expired this often is poison: dead-letter it


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    edition_id: int | None
    subscriber_id: int | None
    recipient: str
    attempts: int
    message_id: str | None
    payload: bytes | None
    created_at: datetime
    history: str
    priority: int = DIGEST_PRIORITY


_OUTBOX = cast(Table, OutboxMessage.__table__)  # the table itself: executemany, no ORM per row

# Claimed's fields, in its order: a claimed row is built from its columns by position
_CLAIM_COLUMNS = tuple(getattr(OutboxMessage, f.name) for f in fields(Claimed))


ANALYZE_AFTER = 5_000  # rows enqueued at once past which PostgreSQL's statistics of the outbox are refreshed


async def enqueue_edition(session: AsyncSession, edition: Edition, now: datetime) -> int:
    """One row per confirmed subscriber of the edition's list, in one ``INSERT ... SELECT``; a
    second call adds nothing. A breaking-news alert goes at share priority, and once to a
    subscriber of several immediate lists (the alerts of one article share its period key)."""
    alert = edition.kind == ALERT
    source = (
        select(
            literal(ALERT if alert else "digest"),
            literal(edition.id),
            Subscriber.id,
            func.coalesce(Subscriber.email_ascii, Subscriber.email),
            literal(URGENT_PRIORITY if alert else DIGEST_PRIORITY),
            literal("pending"),
            literal(0),
            literal("[]"),
            literal(now, OutboxMessage.next_attempt_at.type),
            literal(now, OutboxMessage.created_at.type),
        )
        .join(SubscriberList, and_(SubscriberList.subscriber_id == Subscriber.id,
                                   SubscriberList.list_name == edition.list_name))
        .where(Subscriber.status == "confirmed")
    )
    if alert:
        # the article's alerts on other lists, few: each probe is a look-up in the outbox's unique
        # index (edition_id, subscriber_id), not a scan by subscriber
        other_row = aliased(OutboxMessage)
        other_alerts = select(Edition.id).where(
            Edition.kind == ALERT, Edition.period_key == edition.period_key, Edition.id != edition.id
        )
        source = source.where(~exists().where(
            other_row.edition_id.in_(other_alerts), other_row.subscriber_id == Subscriber.id,
        ))
    stmt = (
        insert(session, OutboxMessage)
        .from_select(
            ["kind", "edition_id", "subscriber_id", "recipient", "priority", "status", "attempts",
             "history", "next_attempt_at", "created_at"],
            source,
        )
        .on_conflict_do_nothing(index_elements=["edition_id", "subscriber_id"])
    )
    result: Any = await session.execute(stmt)
    added = int(result.rowcount or 0)
    if added >= ANALYZE_AFTER:
        # The claim takes the most urgent pending rows in ix_outbox_claim's order; with statistics
        # from before these rows PostgreSQL's planner expected a handful and read and sorted
        # every pending row at each claim (7 ms a claim at 20,000, growing with the edition)
        await analyze(session, _OUTBOX)
    return added


def message_values(
    *,
    kind: str,
    recipient: str,
    payload: bytes,
    message_id: str,
    now: datetime,
    subscriber_id: int | None = None,
    priority: int = URGENT_PRIORITY,
) -> dict[str, Any]:
    """The columns of a one-off message's row (``message_row``, ``enqueue_many``)."""
    return {"kind": kind, "recipient": recipient, "payload": payload, "message_id": message_id,
            "subscriber_id": subscriber_id, "priority": priority, "status": "pending", "attempts": 0,
            "history": "[]", "next_attempt_at": now, "created_at": now}


def message_row(**values: Any) -> OutboxMessage:
    """The row of a one-off message (``message_values``' arguments), for ``enqueue``."""
    return OutboxMessage(**message_values(**values))


async def enqueue_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Add many ``message_values`` rows with one statement: no ORM object, no id fetched back
    (SQLite inserts ORM objects a statement each, to read each one's id)."""
    if rows:
        await session.execute(insert(session, OutboxMessage), list(rows))


async def enqueue(session: AsyncSession, row: OutboxMessage) -> int:
    """Add one ``message_row`` and return its id (to enqueue many, ``add`` them and flush once)."""
    session.add(row)
    await session.flush()
    return row.id


def _claimable(now: datetime) -> Any:
    sending_edition = exists().where(Edition.id == OutboxMessage.edition_id, Edition.status == "sending")
    return and_(
        OutboxMessage.status == "pending",
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.edition_id.is_(None), sending_edition),
    )


async def claim(
    session: AsyncSession, owner: str, now: datetime, *, lease: timedelta, limit: int,
    edition_id: int | None = None,
) -> list[Claimed]:
    """Take up to ``limit`` due rows for ``owner`` until ``now + lease``, most urgent first
    (only rows of ``edition_id`` when it is given)."""
    stmt = _claiming(session.get_bind().dialect.name, owner, now, lease=lease, limit=limit, edition_id=edition_id)
    rows = (await session.execute(stmt)).all()
    # RETURNING gives no order: most urgent first within the batch too (a share before digests)
    return sorted((Claimed(*row) for row in rows), key=lambda c: (c.priority, c.id))


def _claiming(dialect: str, owner: str, now: datetime, *, lease: timedelta, limit: int,
              edition_id: int | None) -> Any:
    """The claim's one statement: pick the batch by the claim index, then update those rows,
    reached by primary key (``_PENDING``)."""
    pick = (
        select(OutboxMessage.id)
        .where(_claimable(now))
        .order_by(OutboxMessage.priority, OutboxMessage.id)
        .limit(limit)
    )
    if edition_id is not None:
        pick = pick.where(OutboxMessage.edition_id == edition_id)
    chosen: Any = pick.scalar_subquery()
    if dialect == "postgresql":
        # several workers on several machines: each skips the rows another has locked. The pick
        # is a MATERIALIZED CTE: as a plain IN (subquery) the planner may run it once per outer
        # row, and with SKIP LOCKED each run finds other rows: more than ``limit`` get claimed.
        picked = pick.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        chosen = select(picked.c.id)
    return (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(chosen), _PENDING)
        .values(
            status="sending",
            lease_owner=owner,
            lease_expires_at=now + lease,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(*_CLAIM_COLUMNS)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Result:
    """What happened to one claimed row; ``skip_reason`` set means it was not sent on purpose."""

    row: Claimed
    outcome: Outcome | None = None
    skip_reason: str | None = None


def _next_state(result: Result, owner: str, now: datetime, at: str, lifetime: timedelta) -> dict[str, Any]:
    """The columns a row gets for its outcome; ``at`` is ``now`` as the history writes it."""
    row = result.row
    entry: dict[str, Any] = {"at": at, "attempt": row.attempts, "worker": owner}
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
    if result.skip_reason is not None:
        entry["skipped"] = result.skip_reason
        values.update(status="skipped", last_error=result.skip_reason)
    else:
        outcome = result.outcome
        assert outcome is not None
        entry.update(code=outcome.code, verdict=outcome.verdict.value, message=outcome.message[:300])
        values.update(last_code=outcome.code, last_error=outcome.message[:2000] or None)
        if outcome.verdict is Verdict.SENT:
            values.update(status="sent", sent_at=now)
        elif outcome.verdict is Verdict.RETRY and now - row.created_at < lifetime:
            values.update(status="pending", next_attempt_at=now + backoff(row.attempts))
        elif outcome.verdict is Verdict.RETRY:
            values.update(status="failed", last_error=f"gave up after {lifetime}: {outcome.message}")
        elif outcome.verdict in ONE_MORE_TRY and not _had(row.history, outcome.verdict):
            # unknown: maybe delivered, maybe not; refused: the message, not the mailbox, and
            # perhaps fixed meanwhile. One more try, with the same Message-ID, and no more.
            values.update(status="pending", next_attempt_at=now + backoff(row.attempts))
        else:
            values["status"] = "failed" if outcome.verdict is Verdict.REFUSED else outcome.verdict.value
    values["history"] = _appended(row.history, entry)
    return values


ONE_MORE_TRY = (Verdict.UNKNOWN, Verdict.REFUSED)
_HISTORY = json.JSONEncoder(ensure_ascii=False)  # json.dumps's output, without a new encoder a row


def _entries(history: str | None) -> list[dict[str, Any]]:
    return json.loads(history) if history and history != "[]" else []  # most rows: their first try


def _appended(history: str | None, entry: dict[str, Any]) -> str:
    """A row's history (JSON text) with ``entry`` added."""
    return _HISTORY.encode([*_entries(history), entry])


def _had(history: str | None, verdict: Verdict) -> bool:
    return any(entry.get("verdict") == verdict.value for entry in _entries(history))


async def record(
    session: AsyncSession,
    owner: str,
    results: list[Result],
    now: datetime,
    *,
    lifetime: timedelta = timedelta(days=3),
) -> list[tuple[Result, str]]:
    """Write a batch of outcomes in one transaction; returns those this owner still held, each
    with the status it got.

    A result whose row was recovered (and perhaps claimed again) since is not written: every
    UPDATE is a compare-and-set on (status, lease owner, attempt). Rows that change the same
    columns go in one statement: an executemany on SQLite, ``UPDATE ... FROM unnest`` on
    PostgreSQL (``_written_together``)."""
    if not results:
        return []
    table = _OUTBOX
    postgres = session.get_bind().dialect.name == "postgresql"
    ids = [r.row.id for r in results]
    if postgres:
        # lock the rows this owner still holds: nobody can take them over until we commit, so
        # exactly these are written
        held = {
            row_id: attempts
            for row_id, attempts in await session.execute(_held(owner, ids))
        }
        results = [r for r in results if held.get(r.row.id) == r.row.attempts]
    at = now.isoformat()
    states = [(result, _next_state(result, owner, now, at, lifetime)) for result in results]
    groups: dict[tuple[str, ...], list[tuple[Claimed, dict[str, Any]]]] = {}
    for result, values in states:
        groups.setdefault(tuple(sorted(values)), []).append((result.row, values))
    changed = 0
    for columns, rows in groups.items():
        if postgres:
            await session.execute(_written_together(columns, rows))
            continue
        stmt = update(table).where(*_still_ours(owner)).values({c: bindparam(f"v_{c}") for c in columns})
        params = [{"b_id": row.id, "b_attempts": row.attempts, **{f"v_{k}": v for k, v in values.items()}}
                  for row, values in rows]
        changed += await execute_many(session, stmt, params) or 0
    if postgres or changed == len(states):
        return [(result, str(values["status"])) for result, values in states]
    # Another worker took some rows over between our claim and now (their lease had expired):
    # a row is ours if it carries exactly the history we wrote (it names this owner and attempt).
    ours = {
        row_id: history
        for row_id, history in await session.execute(
            select(table.c.id, table.c.history).where(table.c.id.in_([r.row.id for r, _ in states]))
        )
    }
    return [(result, str(values["status"])) for result, values in states
            if ours.get(result.row.id) == values["history"]]


# "Still sending" and "still pending", written so that no index can serve them: the rows a
# batch writes are found by primary key. PostgreSQL's planner otherwise reaches them through
# ix_outbox_claim's "sending" entries (its statistics see few such rows), which include every
# dead row version since the last vacuum: each write of a batch walked them all, and recording a
# batch grew with the rows sent so far (780 to 830 us a row after 30,000 rows, now 39 to 42:
# bench/outbox_rows.py --backlog 30000 --pg). SQLite, which keeps no statistics, walked every
# "pending" entry of that index to claim a batch, each time: a claim grew with the rows still
# waiting (bench/outbox_rows.py --waiting).
_SENDING = (_OUTBOX.c.status + literal("")) == "sending"
_PENDING = (_OUTBOX.c.status + literal("")) == "pending"


def _written_together(columns: tuple[str, ...], rows: list[tuple[Claimed, dict[str, Any]]]) -> Any:
    """PostgreSQL: one group of ``record``'s rows (each with the values of ``columns`` it gets) as
    one ``UPDATE ... FROM unnest(arrays)``, a column's values in one array, instead of a statement
    executed once a row. The rows are those ``_held`` found still ours and locked until commit,
    so the compare-and-set was made there: here they are found by (id, attempt) alone. With the
    owner and "still sending" in this statement too, the planner, whose statistics of a send
    were taken while no row had an owner, estimated the owner's rows at one and compared each
    with every row of the batch (a seq scan joined by a filter: 50 to 200 ms a batch of 500)."""
    table = _OUTBOX
    arrays = {"id": [row.id for row, _ in rows], "attempts": [row.attempts for row, _ in rows]}
    arrays.update((c, [values[c] for _, values in rows]) for c in columns)
    given = select(*(
        func.unnest(bindparam(f"a_{name}", values, type_=ARRAY(table.c[name].type))).label(name)
        for name, values in arrays.items()
    )).subquery("given")
    return (
        update(table)
        .where(table.c.id == given.c.id, table.c.attempts == given.c.attempts)
        .values({c: given.c[c] for c in columns})
        .execution_options(synchronize_session=False)
    )


def _held(owner: str, ids: list[int]) -> Any:
    """Those of ``ids`` that ``owner`` still holds (id, attempt), locked until commit."""
    return (select(_OUTBOX.c.id, _OUTBOX.c.attempts)
            .where(_OUTBOX.c.id.in_(ids), _SENDING, _OUTBOX.c.lease_owner == owner).with_for_update())


def _still_ours(owner: str) -> tuple[Any, ...]:
    """The compare-and-set of every batched write to a claimed row: still ``sending``, by this
    owner, in the attempt it claimed (bound per row as ``b_id`` and ``b_attempts``)."""
    return (
        _OUTBOX.c.id == bindparam("b_id"),
        _SENDING,
        _OUTBOX.c.lease_owner == owner,
        _OUTBOX.c.attempts == bindparam("b_attempts"),
    )


async def renew(
    session: AsyncSession, owner: str, rows: list[Claimed], now: datetime, *, lease: timedelta
) -> int:
    """Extend the lease of rows still being sent, so a slow server does not make them look abandoned."""
    result: Any = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_([r.id for r in rows]),
            _SENDING,
            OutboxMessage.lease_owner == owner,
        )
        .values(lease_expires_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def release(session: AsyncSession, owner: str, rows: list[Claimed]) -> None:
    """Give back rows claimed but not sent (the worker is stopping, or failed before sending):
    ``pending`` again at once, the attempt not counted; a compare-and-set like ``record``."""
    if not rows:
        return
    table = _OUTBOX
    stmt = (
        update(table)
        .where(*_still_ours(owner))
        .values(status="pending", lease_owner=None, lease_expires_at=None, attempts=table.c.attempts - 1)
    )
    await execute_many(session, stmt, [{"b_id": r.id, "b_attempts": r.attempts} for r in rows])


@dataclass(frozen=True)
class Recovered:
    pending: int = 0
    dead: int = 0
    sent: int = 0  # the server had accepted them (the journal says so): recorded, not sent again


async def lease_owners(session: AsyncSession) -> set[str]:
    """Who holds rows at the moment (to find the processes of this host that are gone)."""
    rows = await session.scalars(
        select(OutboxMessage.lease_owner).where(OutboxMessage.status == "sending").distinct()
    )
    return {owner for owner in rows if owner}


async def recover_expired(
    session: AsyncSession,
    now: datetime,
    *,
    limit: int = 1000,
    dead_after: int = DEAD_AFTER_RECOVERIES,
    gone: Collection[str] = (),
    accepted: Collection[tuple[int, int, str]] = (),
    untried: Callable[[int, int, str], bool] = lambda row_id, attempt, owner: False,
) -> Recovered:
    """Rows whose lease expired (their worker died or hung), or whose owner is in ``gone`` (a
    process known to be dead), are taken back now.

    A row the journal lists in ``accepted`` as (id, attempt, owner) reached the server in that
    attempt: it is recorded ``sent``. Any other may have reached the server before its worker
    died: that is the in-flight window of possible duplicates; it goes back to ``pending``, or
    to ``dead`` once it has been recovered ``dead_after`` times. A row ``untried(id, attempt,
    owner)`` says was never handed to a connection goes back without counting: it cannot be
    the poison that killed its worker."""
    taken = OutboxMessage.lease_expires_at < now
    if gone:
        taken = or_(taken, OutboxMessage.lease_owner.in_(sorted(gone)))
    pick = (
        select(OutboxMessage.id, OutboxMessage.lease_owner, OutboxMessage.attempts,
               OutboxMessage.recoveries, OutboxMessage.history, OutboxMessage.lease_expires_at)
        .where(OutboxMessage.status == "sending", taken)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)  # two recoverers never fight over a row
    journal = set(accepted)
    counts: Counter[str] = Counter()
    for row_id, owner, attempts, recoveries, history, expired_at in (await session.execute(pick)).all():
        entry: dict[str, Any] = {"at": now.isoformat(), "attempt": attempts, "worker": owner}
        values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
        if (row_id, attempts, owner) in journal:
            entry.update(code=250, verdict=Verdict.SENT.value, journal=True)
            values.update(status="sent", sent_at=now, last_code=250,
                          last_error="accepted by the server (read from the journal after a crash)")
        else:
            if owner in gone:
                entry["owner_gone"] = True
            else:
                entry["lease_expired"] = expired_at.isoformat() if expired_at else None
            if owner is not None and untried(row_id, attempts, owner):
                entry["untried"] = True
                values.update(status="pending", next_attempt_at=now)
            elif recoveries + 1 >= dead_after:
                values["recoveries"] = recoveries + 1
                values.update(status="dead", last_error=f"lease expired {recoveries + 1} times")
            else:
                values.update(status="pending", next_attempt_at=now, recoveries=recoveries + 1)
        values["history"] = _appended(history, entry)
        result: Any = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, _SENDING,
                   OutboxMessage.lease_owner == owner, OutboxMessage.attempts == attempts)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            counts[values["status"]] += 1
    return Recovered(counts["pending"], counts["dead"], counts["sent"])


async def finish_editions(session: AsyncSession, now: datetime) -> list[int]:
    """Mark sent every sending edition with no row pending or sending; returns their ids.

    ``finished_at`` is never before the edition's last ``sent_at``: another sending process may
    have read its clock later and still committed first (SQLite takes the write lock at the first
    write, not when the clock is read)."""
    open_rows = exists().where(
        OutboxMessage.edition_id == Edition.id, OutboxMessage.status.in_(OPEN)
    )
    last_sent = (
        select(func.max(OutboxMessage.sent_at)).where(OutboxMessage.edition_id == Edition.id).scalar_subquery()
    )
    stmt = (
        update(Edition)
        .where(Edition.status == "sending", ~open_rows)
        .values(status="sent", finished_at=case((last_sent > now, last_sent), else_=now))
        .returning(Edition.id)
        .execution_options(synchronize_session=False)
    )
    return list((await session.scalars(stmt)).all())


async def counts(session: AsyncSession, edition_ids: list[int] | None = None) -> dict[int, dict[str, int]]:
    """Rows per status for each edition: the progress that every view of an edition shows."""
    stmt = select(OutboxMessage.edition_id, OutboxMessage.status, func.count()).where(
        OutboxMessage.edition_id.is_not(None)
    )
    if edition_ids is not None:
        stmt = stmt.where(OutboxMessage.edition_id.in_(edition_ids))
    out: dict[int, dict[str, int]] = {}
    for edition_id, status, n in await session.execute(stmt.group_by(OutboxMessage.edition_id, OutboxMessage.status)):
        if edition_id is not None:
            out.setdefault(edition_id, {})[status] = n
    # rows that ``mailer prune`` removed are counted in outbox_totals
    pruned = select(OutboxTotal.edition_id, OutboxTotal.status, func.sum(OutboxTotal.count)).where(
        OutboxTotal.edition_id != 0
    )
    if edition_ids is not None:
        pruned = pruned.where(OutboxTotal.edition_id.in_(edition_ids))
    for edition_id, status, n in await session.execute(pruned.group_by(OutboxTotal.edition_id, OutboxTotal.status)):
        counts = out.setdefault(edition_id, {})
        counts[status] = counts.get(status, 0) + int(n)
    return out


async def waiting(session: AsyncSession, edition_id: int) -> tuple[int, str | None]:
    """How many of an edition's rows are still open, and the last reply to one of them."""
    open_rows = (OutboxMessage.edition_id == edition_id, OutboxMessage.status.in_(OPEN))
    count = await session.scalar(select(func.count()).where(*open_rows))
    last = (await session.execute(
        select(OutboxMessage.last_code, OutboxMessage.last_error).where(*open_rows).limit(1))).first()
    reason = " ".join(str(part) for part in last if part) if last else None
    return int(count or 0), reason or None


@dataclass(frozen=True)
class Progress:
    """Where one edition stands: its status, rows per status, rows being sent or due now, and
    when the next pending row that waits for a retry falls due."""

    status: str
    reason: str | None
    counts: dict[str, int]
    moving: int
    next_retry: datetime | None

    @property
    def done(self) -> int:
        return sum(n for status, n in self.counts.items() if status not in OPEN)


async def progress(session: AsyncSession, edition_id: int, now: datetime) -> Progress:
    status, reason = (await session.execute(
        select(Edition.status, Edition.status_reason).where(Edition.id == edition_id))).one()
    rows = (await counts(session, [edition_id])).get(edition_id, {})
    of_edition = OutboxMessage.edition_id == edition_id
    moving = await session.scalar(
        select(func.count()).where(
            of_edition,
            or_(OutboxMessage.status == "sending",
                and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)),
        )
    )
    next_retry = await session.scalar(
        select(func.min(OutboxMessage.next_attempt_at)).where(
            of_edition, OutboxMessage.status == "pending", OutboxMessage.next_attempt_at > now)
    )
    return Progress(status, reason, rows, int(moving or 0), next_retry)


SHOWN = ("sent", "skipped", "failed", "unknown", "pending", "dead")  # how lists show an edition's rows


def shown_counts(counts: dict[str, int]) -> dict[str, int]:
    """An edition's rows per status as the lists show them, every status named (a row being
    sent counts as pending): nothing is lumped together as "other"."""
    shown = {status: counts.get(status, 0) for status in SHOWN}
    shown["pending"] += counts.get("sending", 0)
    return shown


async def erase(session: AsyncSession, addresses: Iterable[str], subscriber_id: int | None = None) -> int:
    """Forget a person in the outbox: rows to any form of their address (or to their subscriber id)
    keep their status, so edition counts stay right, but lose the address, the composed message,
    its Message-ID and the SMTP replies that may quote it; unsent rows are cancelled."""
    forms = set(addresses)
    # SQLite's lower() folds only ASCII: compare both as given and lower-cased
    match = or_(
        OutboxMessage.recipient.in_(sorted(forms)),
        func.lower(OutboxMessage.recipient).in_(sorted({a.lower() for a in forms})),
    )
    if subscriber_id is not None:
        match = or_(match, OutboxMessage.subscriber_id == subscriber_id)
    await session.execute(
        update(OutboxMessage)
        .where(match, OutboxMessage.status.in_(OPEN))
        .values(status="skipped", lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    result: Any = await session.execute(
        update(OutboxMessage)
        .where(match)
        .values(recipient="", payload=None, message_id=None, last_error=None, history="[]",
                subscriber_id=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)
