"""The durable outbox: the only module with claim SQL.

A row moves ``pending -> sending -> sent | failed | unknown | skipped`` (and back to ``pending``
for a retry). Every move is a compare-and-set on (status, lease owner), so a worker whose lease
expired cannot overwrite what another worker did. The checkpoint is written after the SMTP reply,
never at claim time. Whether an edition is finished is a query, never a counter in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.db import insert
from mailer.models import Edition, OutboxMessage
from mailer.outcomes import Outcome, Verdict, backoff
from subscribers.models import Subscriber

DIGEST_PRIORITY = 10
URGENT_PRIORITY = 0  # shares, confirmations, tests: ahead of any digest
OPEN = ("pending", "sending")
FINAL = ("sent", "failed", "unknown", "skipped", "dead")


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


_CLAIM_COLUMNS = (
    OutboxMessage.id, OutboxMessage.kind, OutboxMessage.edition_id, OutboxMessage.subscriber_id,
    OutboxMessage.recipient, OutboxMessage.attempts, OutboxMessage.message_id,
    OutboxMessage.payload, OutboxMessage.created_at, OutboxMessage.history,
)


async def enqueue_edition(session: AsyncSession, edition: Edition, now: datetime) -> int:
    """One row per confirmed subscriber of the edition's list; a second call adds nothing."""
    source = select(
        literal("digest"),
        literal(edition.id),
        Subscriber.id,
        func.coalesce(Subscriber.email_ascii, Subscriber.email),
        literal(DIGEST_PRIORITY),
        literal("pending"),
        literal(0),
        literal("[]"),
        literal(now, OutboxMessage.next_attempt_at.type),
        literal(now, OutboxMessage.created_at.type),
    ).where(Subscriber.status == "confirmed", Subscriber.frequency == edition.list_name)
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
    return int(result.rowcount or 0)


def message_row(
    *,
    kind: str,
    recipient: str,
    payload: bytes,
    message_id: str,
    now: datetime,
    subscriber_id: int | None = None,
    priority: int = URGENT_PRIORITY,
) -> OutboxMessage:
    """The row of a one-off message; ``session.add`` it to enqueue many with one flush."""
    return OutboxMessage(
        kind=kind, recipient=recipient, payload=payload, message_id=message_id,
        subscriber_id=subscriber_id, priority=priority, status="pending", attempts=0,
        history="[]", next_attempt_at=now, created_at=now,
    )


async def enqueue_message(
    session: AsyncSession,
    *,
    kind: str,
    recipient: str,
    payload: bytes,
    message_id: str,
    now: datetime,
    subscriber_id: int | None = None,
    priority: int = URGENT_PRIORITY,
) -> int:
    """A one-off message (share, confirmation, test) composed in advance."""
    row = message_row(kind=kind, recipient=recipient, payload=payload, message_id=message_id, now=now,
                      subscriber_id=subscriber_id, priority=priority)
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
    session: AsyncSession, owner: str, now: datetime, *, lease: timedelta, limit: int
) -> list[Claimed]:
    """Take up to ``limit`` due rows for ``owner`` until ``now + lease``, most urgent first."""
    pick = (
        select(OutboxMessage.id)
        .where(_claimable(now))
        .order_by(OutboxMessage.priority, OutboxMessage.id)
        .limit(limit)
    )
    if session.bind.dialect.name == "postgresql":
        # several workers on several machines: each skips the rows another has locked
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(pick.scalar_subquery()), OutboxMessage.status == "pending")
        .values(
            status="sending",
            lease_owner=owner,
            lease_expires_at=now + lease,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(*_CLAIM_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


@dataclass(frozen=True)
class Result:
    """What happened to one claimed row; ``skip_reason`` set means it was not sent on purpose."""

    row: Claimed
    outcome: Outcome | None = None
    skip_reason: str | None = None


def _next_state(result: Result, now: datetime, lifetime: timedelta) -> dict[str, Any]:
    row = result.row
    entry: dict[str, Any] = {"at": now.isoformat(), "attempt": row.attempts}
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
        else:
            values["status"] = outcome.verdict.value  # failed | unknown
    values["history"] = json.dumps([*json.loads(row.history or "[]"), entry], ensure_ascii=False)
    return values


async def record(
    session: AsyncSession,
    owner: str,
    results: list[Result],
    now: datetime,
    *,
    lifetime: timedelta = timedelta(days=3),
) -> int:
    """Write a batch of outcomes in one transaction; returns how many rows this owner still held."""
    written = 0
    for result in results:
        stmt = (
            update(OutboxMessage)
            .where(
                OutboxMessage.id == result.row.id,
                OutboxMessage.status == "sending",
                OutboxMessage.lease_owner == owner,
            )
            .values(**_next_state(result, now, lifetime))
            .execution_options(synchronize_session=False)
        )
        outcome: Any = await session.execute(stmt)
        written += int(outcome.rowcount or 0)
    return written


async def finish_editions(session: AsyncSession, now: datetime) -> list[int]:
    """Mark sent every sending edition with no row pending or sending; returns their ids."""
    open_rows = exists().where(
        OutboxMessage.edition_id == Edition.id, OutboxMessage.status.in_(OPEN)
    )
    stmt = (
        update(Edition)
        .where(Edition.status == "sending", ~open_rows)
        .values(status="sent", finished_at=now)
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
        out.setdefault(edition_id, {})[status] = n
    return out


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
