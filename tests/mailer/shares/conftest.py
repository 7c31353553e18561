"""A live app with share settings of the test's choosing, and helpers to share through it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from mailer.articles import ingest
from mailer.core.models import OutboxMessage, ShareRecord
from mailer.core.settings import Settings
from mailer.delivery.devmailbox import free_port
from mailer.delivery.service import Service
from mailer.web.app import create_app, server_config
from tests.conftest import Clock
from tests.support.smtpd import Received, SMTPServer

ARABIC = re.compile(r"[\u0600-\u06ff]")


@dataclass
class Harness:
    svc: Service
    url: str
    client: httpx.AsyncClient
    smtp: SMTPServer
    clock: Clock
    articles: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    guids: dict[int, str] = field(default_factory=dict)  # the site's id of each article made

    def form_path(self, article_id: int) -> str:
        """The share form of an article by the site's own id (``/share/{guid}``)."""
        return "/share/" + quote(self.guids[article_id], safe="")

    async def article(self, *, status: str = "published", title: str | None = None, image: bool = True) -> int:
        self.articles += 1
        n = self.articles
        payload = {
            "url": f"https://news.example.com/news/{n}",
            "title": title or f"عنوان الخبر رقم {n}: العراق يرفض اتهام أمريكا (IRNA)",
            "summary": f"<p>ملخص الخبر رقم {n}: إلتقت القوات العراقية المشتركة بالجيش السوري.</p>",
            "section": "سياسة",
            "status": status,
            **({"image_url": f"https://news.example.com/images/{n}.jpg", "image_alt": "صورة الخبر"} if image else {}),
        }
        article = ingest.parse_api(payload, now=self.clock.now)
        async with self.svc.db.transaction() as session:
            article_id = (await ingest.store(session, [article])).ids[0]
        self.guids[article_id] = article.guid
        return article_id

    async def token(self, article_id: int) -> str:
        reply = await self.client.get(self.form_path(article_id), headers={"Accept": "application/json"})
        assert reply.status_code == 200, reply.text
        return str(reply.json()["form_token"])

    def fields(self, article_id: int, token: str, /, **overrides: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "article_id": str(article_id), "form_token": token, "friend_email": "friend@example.org",
            "sender_name": "أحمد", "sender_email": "", "website": "",
        }
        values.update(overrides)
        return {k: v for k, v in values.items() if v is not None}

    async def share(self, article_id: int, /, *, as_json: bool = False, wait: float = 5.0,
                    **overrides: Any) -> httpx.Response:
        """Load the form, "type" for ``wait`` seconds, send it (form-encoded unless ``as_json``)."""
        token = await self.token(article_id)
        self.clock.advance(seconds=wait)
        data = self.fields(article_id, token, **overrides)
        if as_json:
            return await self.client.post("/share", json=data)
        return await self.client.post("/share", data=data)

    async def deliver(self) -> list[Received]:
        await self.svc.sender.drain()
        return self.smtp.received

    async def queued_shares(self) -> int:
        async with self.svc.db.transaction() as session:
            return int(await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "share")) or 0)

    async def records(self) -> list[ShareRecord]:
        async with self.svc.db.transaction() as session:
            return list(await session.scalars(select(ShareRecord).order_by(ShareRecord.id)))

    async def assert_refused(self, reply: httpx.Response, status: int, reason: str) -> None:
        """A clear Arabic refusal with ``status``, recorded with ``reason``, and nothing sent."""
        assert reply.status_code == status, reply.text
        if reply.headers["content-type"].startswith("application/json"):
            message = reply.json()["message"]
        else:
            assert 'dir="rtl"' in reply.text and 'lang="ar"' in reply.text
            message = reply.text
        assert ARABIC.search(message), message
        assert await self.queued_shares() == 0
        assert await self.deliver() == []
        assert (await self.records())[-1].outcome == reason


@pytest.fixture
async def share_app(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock
) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    """``h = await share_app(share_ip_limits="2/minute")``: a service and its live app on loopback."""
    started: list[tuple[Service, uvicorn.Server, asyncio.Task[None], httpx.AsyncClient]] = []

    async def start(**overrides: Any) -> Harness:
        values: dict[str, Any] = {"share_ip_limits": "1000/minute", **overrides}
        settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, **values)
        svc = await Service(settings, clock=clock).start()
        port = free_port()
        server = uvicorn.Server(server_config(create_app(svc), host="127.0.0.1", port=port))
        task = asyncio.create_task(server.serve())
        for _ in range(250):
            if server.started:
                break
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        client = httpx.AsyncClient(base_url=url, timeout=30)
        started.append((svc, server, task, client))
        return Harness(svc, url, client, smtp_server, clock)

    try:
        yield start
    finally:
        for svc, server, task, client in started:
            await client.aclose()
            server.should_exit = True
            await task
            await svc.close()
