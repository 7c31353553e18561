"""Helpers for the subscriber tests: links out of received mail, and database look-ups."""

from __future__ import annotations

import base64
import hmac
import re
from datetime import datetime

import httpx
from sqlalchemy import select

from mailer.articles import ingest
from mailer.delivery.service import Service
from subscribers.models import Subscriber
from tests.support import factories
from tests.support.smtpd import Received

BASE = "https://news.example.com"


def link(received: Received, path_prefix: str) -> str:
    """The path of the first link to ``BASE + path_prefix`` in the plain-text part."""
    text = received.message.get_body(("plain",)).get_content()
    match = re.search(re.escape(BASE + path_prefix) + r"[A-Za-z0-9._-]+", text)
    assert match, f"no {path_prefix} link in:\n{text}"
    return match.group(0).removeprefix(BASE)


def one_click_path(received: Received) -> str:
    match = re.search(r"<(https://[^>]+)>", received.message["List-Unsubscribe"])
    assert match
    return match.group(1).removeprefix(BASE)


def legacy_token(secret: str, purpose: str, subscriber_id: int, scope: str) -> str:
    """An unsubscribe or preferences token as made before key ids, when the MAC was the whole
    signature: written here apart from ``mailer.core.signing``, as an oracle."""
    digest = hmac.digest(secret.encode(), f"{purpose}|{subscriber_id}|{scope}".encode(), "sha256")
    return f"{subscriber_id}.{scope}.{base64.urlsafe_b64encode(digest).decode()[:22]}"


def page(reply: httpx.Response) -> str:
    """A page's text with its per-response CSP nonce blanked: what two answers must share."""
    return re.sub(r'nonce="[^"]*"', 'nonce=""', reply.text)


def to(received: Received) -> str:
    return received.rcpt_tos[0]


async def subscriber_row(svc: Service, email: str) -> Subscriber | None:
    await svc.later.settle()  # subscriptions are done after their request is answered
    async with svc.db.transaction() as session:
        return (await session.scalars(select(Subscriber).where(Subscriber.email == email))).first()


async def status_of(svc: Service, email: str) -> str | None:
    sub = await subscriber_row(svc, email)
    return sub.status if sub else None


async def news(svc: Service, numbers: range, now: datetime, section: str = "سياسة") -> None:
    """Articles with guids of their own, so a later digest has something new."""
    items = (factories.item(n, now, section=section) for n in numbers)
    parsed = ingest.parse_feed(factories.rss(items), now=now)
    async with svc.db.transaction() as session:
        await ingest.store(session, parsed.articles)
