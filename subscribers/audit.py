"""The console's audit log: each change an editor makes to a subscriber, with who and when.
Written in the transaction of the change, so the log holds exactly what happened."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from subscribers.models import AuditEntry

# action -> how the console names it
ACTIONS = {
    "add": "إضافة مشترك",
    "unsubscribe": "إلغاء الاشتراك نيابةً عنه",
    "suppress": "حظر العنوان",
    "forget": "محو بياناته",
    "import": "استيراد ملف",
    "role": "تغيير دور محرر",
}
DETAIL_MAX = 500


async def record(session: AsyncSession, *, actor: str, action: str, subscriber_id: int | None,
                 now: datetime, detail: str = "") -> AuditEntry:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditEntry(actor=actor, action=action, subscriber_id=subscriber_id, at=now, detail=detail[:DETAIL_MAX])
    session.add(entry)
    await session.flush()
    return entry


async def entries(session: AsyncSession, *, subscriber_id: int | None = None, before: int | None = None,
                  limit: int = 100) -> list[AuditEntry]:
    """Newest first, a keyset page (``before``: the smallest id of the last page)."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if subscriber_id is not None:
        stmt = stmt.where(AuditEntry.subscriber_id == subscriber_id)
    if before is not None:
        stmt = stmt.where(AuditEntry.id < before)
    return list(await session.scalars(stmt))
