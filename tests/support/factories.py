"""Builders for test data: feeds, articles, subscribers and editors."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.articles import ingest
from mailer.core.models import Editor
from mailer.delivery.service import Service
from mailer.editor import accounts
from subscribers import store
from subscribers.models import Subscriber, SubscriberList


def rss(items: Iterable[dict[str, str]]) -> bytes:
    """An RSS 2.0 document; each item a dict of raw inner XML per element (escape yourself)."""
    body = "".join(
        "<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in item.items()) + "</item>" for item in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>أخبار</title>'
        f"<link>https://news.example.com</link><description>d</description>{body}</channel></rss>"
    ).encode()


def item(n: int, now: datetime, *, section: str = "سياسة", title: str | None = None) -> dict[str, str]:
    link = f"https://news.example.com/news/{n}"
    return {
        "title": escape(title or f"عنوان الخبر رقم {n} عن العراق"),
        "link": link,
        "guid": link,
        "category": escape(section),
        "description": escape(f"<p>ملخص الخبر رقم {n}: إلتقت القوات العراقية المشتركة بالجيش السوري.</p>"),
        "pubDate": format_datetime(now - timedelta(minutes=n)),
    }


async def ingest_items(svc: Service, count: int, now: datetime, **kwargs: str) -> ingest.StoreResult:
    parsed = ingest.parse_feed(rss(item(n, now, **kwargs) for n in range(1, count + 1)), now=now)
    async with svc.db.transaction() as session:
        return await ingest.store(session, parsed.articles)


async def subscriber(svc: Service, email: str, *, status: str = "confirmed", name: str | None = None,
                     lists: Iterable[str] = ("daily",), sections: Iterable[int] = ()) -> Subscriber:
    async with svc.db.transaction() as session:
        return await store.add(session, email, now=svc.clock(), name=name, status=status,
                               lists=lists, sections=sections)


def confirmed_rows(emails: Iterable[str], now: datetime) -> list[dict[str, Any]]:
    """Plain rows of confirmed subscribers, for ``bulk_subscribers`` or ``store.insert_many``."""
    return [{"email": email, "email_ascii": email, "status": "confirmed", "created_at": now, "updated_at": now,
             "confirmed_at": now, "bounce_score": 0, "no_shares": False} for email in emails]


async def bulk_subscribers(session: AsyncSession, rows: list[dict[str, Any]], lists: Iterable[str] = ("daily",)) -> None:
    """Insert many subscriber rows at once (plain dicts), each taking ``lists``."""
    await session.execute(insert(Subscriber), rows)
    emails = [row["email"] for row in rows]
    for list_name in lists:
        for start in range(0, len(emails), 5000):
            chunk = emails[start:start + 5000]
            await session.execute(insert(SubscriberList).from_select(
                ["list_name", "subscriber_id"],
                select(literal(list_name), Subscriber.id).where(Subscriber.email.in_(chunk)),
            ))


EDITOR_PASSWORD = "correct horse battery"


async def editor(svc: Service, name: str = "sara", email: str = "sara@news.example.com",
                 password: str = EDITOR_PASSWORD, role: str = "editor") -> Editor:
    async with svc.db.transaction() as session:
        return await accounts.add(session, name, email, password, svc.clock(), role=role)
