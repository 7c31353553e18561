"""Rendering and inlining never stall the event loop: while the sender renders a large edition
variant, a heartbeat task keeps waking up on time (other batches are mid-SMTP meanwhile). Every
async path that renders (sender, previews, notices) runs premailer in a render thread, and
coroutines asking for the same content at once get one render."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from mailer.articles import ingest
from mailer.compose.render import Renderer
from mailer.compose.variants import TemplateCache
from mailer.core.heap import freeze_startup
from mailer.core.models import Edition
from mailer.core.settings import Settings
from mailer.delivery.notifier import Notifier
from mailer.delivery.service import Service
from mailer.editions.planning import ALL_SECTIONS
from mailer.editor.previews import Previews
from subscribers import tokens
from subscribers.flows import Notice
from tests.conftest import Clock
from tests.support import factories
from tests.support.inlining import off_loop, premailer_threads
from tests.support.smtpd import SMTPServer

MAX_GAP = 0.050  # seconds between two wake-ups of a 5 ms heartbeat
SUMMARY = (
    "قال رئيس الوزراء Mohammed al-Sudani يوم 25 نوفمبر 2026 إن القوات المشتركة (Joint Operations) "
    "التقت بالجيش السوري على الحدود بطول 600 km، وإن الطريق الدولي سيفتح أمام الشاحنات خلال أيام. "
) * 8


class Heartbeat:
    """Sleeps ``period`` in a loop and records the largest gap between two wake-ups."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.largest = 0.0
        self.beats = 0

    async def run(self, stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(self.period)
            now = time.perf_counter()
            self.largest = max(self.largest, now - last)
            self.beats += 1
            last = now


@pytest.fixture
async def big(make_settings: Callable[..., Settings], smtp_server: SMTPServer, clock: Clock) -> AsyncIterator[Service]:
    """A started service on a SQLite file with twenty long Arabic articles with images in two
    sections, six readers of two variants, and the daily edition planned."""
    service = await Service(make_settings(smtp_url=smtp_server.url, max_articles=20), clock=clock).start()
    try:
        articles = [
            ingest.ArticleIn(
                guid=f"https://news.example.com/news/{n}", url=f"https://news.example.com/news/{n}",
                title=f"عنوان الخبر رقم {n}: اجتماع Baghdad Summit يناقش 12 ملفاً",
                published_at=clock.now - timedelta(minutes=n), summary_html=f"<p>{SUMMARY}</p>",
                image_url=f"https://news.example.com/images/{n}.jpg", section="سياسة" if n % 2 else "اقتصاد",
            )
            for n in range(1, 21)
        ]
        async with service.db.transaction() as session:
            await ingest.store(session, articles)
            economy = await ingest.section_id(session, "اقتصاد")
        for n in range(6):
            await factories.subscriber(service, f"reader{n}@example.org", name="سارة",
                                       sections=[economy] if n % 2 else [])
        assert (await service.run_list("daily", clock.now)).enqueued == 6
        freeze_startup()  # as `mailer serve` and `mailer worker` do once started
        yield service
    finally:
        gc.unfreeze()
        await service.close()


async def test_the_sender_renders_a_large_variant_off_the_event_loop(
    big: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = premailer_threads(monkeypatch)
    heartbeat, stop = Heartbeat(), asyncio.Event()
    beating = asyncio.create_task(heartbeat.run(stop))
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    try:
        totals = await big.sender.drain()
    finally:
        stop.set()
        await beating
    took = time.perf_counter() - started
    print(f"\nlargest heartbeat gap {heartbeat.largest * 1000:.1f} ms over {heartbeat.beats} beats; "
          f"the drain took {took * 1000:.0f} ms")
    assert totals == {"sent": 6}
    assert heartbeat.largest < MAX_GAP, f"the event loop stalled for {heartbeat.largest * 1000:.0f} ms"
    assert len(runs) == 2 and off_loop(runs)  # two variants, each inlined once, in a render thread


async def test_two_batches_asking_for_one_variant_at_once_render_it_once(
    big: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = premailer_threads(monkeypatch)
    cache = TemplateCache(big.settings, big.renderer)

    async def ask() -> object:
        async with big.db.transaction() as session:
            edition = (await session.scalars(select(Edition))).one()
            return await cache.get(session, edition, ALL_SECTIONS)

    first, second = await asyncio.gather(ask(), ask())
    assert first is second
    assert len(runs) == 1 and off_loop(runs)


async def test_a_preview_page_and_its_frames_render_the_draft_once_off_the_loop(
    big: Service, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = premailer_threads(monkeypatch)
    previews = Previews(big.settings, big.renderer)
    shown = await asyncio.gather(*(previews.build(big.db, "edition", "1", {}, clock.now) for _ in range(3)))
    assert len({p.title for p in shown}) == 1 and shown[0].digest is not None
    assert len(runs) == 1 and off_loop(runs)
    article_id = shown[0].digest.articles[0].id
    for kind, ref in (("share", str(article_id)), ("confirm", "daily"), ("welcome", "weekly")):
        await asyncio.gather(previews.build(big.db, kind, ref, {}, clock.now),
                             previews.build(big.db, kind, ref, {}, clock.now))
    assert len(runs) == 4 and off_loop(runs)


async def test_notices_render_off_the_loop_once_for_concurrent_requests(
    make_settings: Callable[..., Settings], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = premailer_threads(monkeypatch)
    settings = make_settings()
    notifier = Notifier(settings, Renderer(settings))
    notices = [
        Notice("confirm", n, f"r{n}@example.org", None, "daily", clock.now, tokens.new_confirmation())
        for n in range(1, 6)
    ]
    messages = await asyncio.gather(*(notifier.message(n, installation="0123456789") for n in notices))
    assert len({data for data, _ in messages}) == 5
    assert len(runs) == 1 and off_loop(runs)
