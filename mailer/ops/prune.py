"""Retention: what ``mailer prune`` (and ``serve`` on ``MAILER_PRUNE_CRON``) removes, and the counts
it keeps so that reports and metrics stay right.

* after ``MAILER_RETAIN_PAYLOAD_DAYS``: the composed bytes and attempt history of finished outbox
  rows, and the rendered variants of finished editions (their previews go with them);
* after ``MAILER_RETAIN_OUTBOX_DAYS``: the outbox rows themselves, once their edition is finished;
  their counts per (edition, kind, status) go to ``outbox_totals`` first, in the same transaction;
* at once: expired or used confirmation links (once the one-mail-per-interval limit no longer
  needs them) and expired editor sessions;
* after ``MAILER_RETAIN_BOUNCE_DAYS`` and ``MAILER_RETAIN_SHARE_DAYS``: bounce events and share
  records, their counts per kind and outcome kept in ``event_totals``.

Work goes in chunks of ``CHUNK`` rows, one transaction each: a crash half-way leaves every count
right, and the next run carries on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import Database, insert
from mailer.core.models import (
    BounceEvent,
    Edition,
    EditionVariant,
    EditorSession,
    EventTotal,
    OutboxMessage,
    OutboxTotal,
    ShareRecord,
)
from mailer.core.settings import Settings
from mailer.delivery.outbox import FINAL
from subscribers.models import Confirmation

CHUNK = 5000
FINISHED_EDITION = ("sent", "empty")


@dataclass
class Pruned:
    payloads: int = 0
    variants: int = 0
    outbox_rows: int = 0
    confirmations: int = 0
    editor_sessions: int = 0
    bounce_events: int = 0
    shares: int = 0

    def describe(self) -> str:
        return ", ".join(f"{getattr(self, f.name)} {f.name.replace('_', ' ')}" for f in fields(self))


def _days(value: float) -> timedelta:
    return timedelta(days=value)


async def prune(db: Database, settings: Settings, now: datetime) -> Pruned:
    """Apply every retention rule once; returns how many of each were removed or emptied."""
    done = Pruned()
    payload_cut = now - _days(settings.retain_payload_days)
    outbox_cut = now - _days(settings.retain_outbox_days)
    done.payloads = await _chunked(db, lambda s: _empty_payloads(s, payload_cut))
    async with db.transaction() as session:
        done.variants = await _rowcount(session, delete(EditionVariant).where(
            EditionVariant.edition_id.in_(_finished_editions(payload_cut))))
    done.outbox_rows = await _chunked(db, lambda s: _archive_outbox(s, outbox_cut))
    async with db.transaction() as session:
        interval = timedelta(hours=settings.confirm_interval_hours)
        done.confirmations = await _rowcount(session, delete(Confirmation).where(
            or_(Confirmation.used_at.is_not(None), Confirmation.expires_at < now),
            Confirmation.created_at < now - interval,  # the per-address limit counts these
        ))
        done.editor_sessions = await _rowcount(session, delete(EditorSession).where(EditorSession.expires_at < now))
    bounce_cut = now - _days(settings.retain_bounce_days)
    done.bounce_events = await _chunked(db, lambda s: _archive_events(
        s, "bounce_events", BounceEvent, BounceEvent.kind, BounceEvent.created_at < bounce_cut))
    share_cut = now - _days(settings.retain_share_days)
    done.shares = await _chunked(db, lambda s: _archive_events(
        s, "shares", ShareRecord, ShareRecord.outcome, ShareRecord.created_at < share_cut))
    return done


async def _chunked(db: Database, step: Callable[[AsyncSession], Awaitable[int]]) -> int:
    """Run ``step(session)`` in its own transaction until it does nothing; the sum of what it did."""
    total = 0
    while True:
        async with db.transaction() as session:
            n: int = await step(session)
        total += n
        if n < CHUNK:
            return total


async def _rowcount(session: AsyncSession, stmt: Any) -> int:
    result: Any = await session.execute(stmt.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


def _finished_editions(cut: datetime) -> Any:
    return select(Edition.id).where(
        Edition.status.in_(FINISHED_EDITION), func.coalesce(Edition.finished_at, Edition.scheduled_at) < cut
    )


async def _empty_payloads(session: AsyncSession, cut: datetime) -> int:
    ids = select(OutboxMessage.id).where(
        OutboxMessage.status.in_(FINAL),
        OutboxMessage.created_at < cut,
        or_(OutboxMessage.payload.is_not(None), OutboxMessage.history != "[]"),
    ).limit(CHUNK)
    chosen = list(await session.scalars(ids))
    if not chosen:
        return 0
    await _rowcount(session, update(OutboxMessage).where(OutboxMessage.id.in_(chosen))
                    .values(payload=None, history="[]"))
    return len(chosen)


async def _archive_outbox(session: AsyncSession, cut: datetime) -> int:
    """Count, then delete, up to ``CHUNK`` final rows of finished editions and of one-off mail."""
    old = or_(
        OutboxMessage.edition_id.in_(_finished_editions(cut)),
        and_(OutboxMessage.edition_id.is_(None), OutboxMessage.created_at < cut),
    )
    rows = (await session.execute(
        select(OutboxMessage.id, OutboxMessage.edition_id, OutboxMessage.kind, OutboxMessage.status)
        .where(old, OutboxMessage.status.in_(FINAL)).limit(CHUNK)
    )).all()
    if not rows:
        return 0
    counts = Counter((edition_id or 0, kind, status) for _, edition_id, kind, status in rows)
    await _add(session, OutboxTotal, [
        {"edition_id": e, "kind": k, "status": s, "count": n} for (e, k, s), n in counts.items()
    ], ["edition_id", "kind", "status"])
    await _rowcount(session, delete(OutboxMessage).where(OutboxMessage.id.in_([r[0] for r in rows])))
    return len(rows)


async def _archive_events(session: AsyncSession, name: str, table: Any, label: Any, old: Any) -> int:
    rows = (await session.execute(select(table.id, label).where(old).limit(CHUNK))).all()
    if not rows:
        return 0
    counts = Counter(str(value)[:32] for _, value in rows)
    await _add(session, EventTotal, [
        {"name": name, "label": value, "count": n} for value, n in counts.items()
    ], ["name", "label"])
    await _rowcount(session, delete(table).where(table.id.in_([r[0] for r in rows])))
    return len(rows)


async def _add(session: AsyncSession, table: Any, rows: list[dict[str, Any]], key: list[str]) -> None:
    """Add ``count`` to each keyed total (an upsert: the first prune creates the row)."""
    stmt = insert(session, table)
    stmt = stmt.on_conflict_do_update(index_elements=key, set_={"count": table.count + stmt.excluded.count})
    await session.execute(stmt, rows)
