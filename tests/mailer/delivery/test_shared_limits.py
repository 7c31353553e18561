"""One send rate and one per-domain concurrency for every worker together: three real
``mailer worker`` processes drain one edition, and the SMTP server measures what they did.

PostgreSQL counts in the database; SQLite (one sending process is the rule) with Redis, when
``MAILER_RATE_STORAGE`` names one."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from mailer.core.db import utcnow
from mailer.core.settings import Settings
from mailer.delivery.limits import SlotStore
from mailer.delivery.service import Service
from mailer.delivery.slots import PostgresSlots, RedisSlots
from tests.support.smtpd import SMTPServer, arrivals_process, read_arrivals
from tests.support.workers import Worker, big_edition, status_counts

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REDIS_URL = "redis://127.0.0.1:6379/15"
ARTIFACTS = Path(__file__).resolve().parents[3] / "tests" / "artifacts"


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def _storage(database_url: str) -> str:
    """The database on PostgreSQL; Redis beside SQLite (where ``database`` is refused)."""
    if database_url.startswith("postgresql"):
        return "database"
    if not _redis_reachable():
        pytest.skip("no Redis at 127.0.0.1:6379 (Debian package redis-server; .ci/run starts it)")
    return REDIS_URL


async def _clear_redis() -> None:
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def _run_workers(settings: Settings, count: int, tmp_path: Path) -> tuple[int, dict[str, int]]:
    """An edition of ``count`` messages drained by three workers; returns the edition and how many
    rows each worker sent (from the rows' histories)."""
    if settings.shared_limits.startswith("redis"):
        await _clear_redis()
    svc = await Service(settings).start()
    try:
        edition_id = await big_edition(svc, count, utcnow())
        workers = [Worker(settings, f"w{n}", tmp_path / f"w{n}.log", poll=0.05) for n in (1, 2, 3)]
        try:
            for worker in workers:
                await worker.started()
            for _ in range(1200):
                status, _ = await status_counts(svc, edition_id)
                if status == "sent":
                    break
                await asyncio.sleep(0.1)
        finally:
            codes = [w.stop() for w in workers]
        assert codes == [0, 0, 0], [w.log.read_text() for w in workers]
        status, counts = await status_counts(svc, edition_id)
        assert (status, counts) == ("sent", {"sent": count})
        from sqlalchemy import select

        from mailer.core.models import OutboxMessage

        async with svc.db.transaction() as session:
            histories = list(await session.scalars(
                select(OutboxMessage.history).where(OutboxMessage.edition_id == edition_id)))
    finally:
        await svc.close()
    per_worker: dict[str, int] = {}
    for history in histories:
        name = json.loads(history)[-1]["worker"]
        per_worker[name] = per_worker.get(name, 0) + 1
    return edition_id, per_worker


def _report(name: str, figures: dict[str, object]) -> None:
    print(f"\n{name}: " + json.dumps(figures))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(figures, indent=2))


async def test_three_workers_send_at_one_rate_together(
    make_settings: Callable[..., Settings], database_url: str, tmp_path: Path
) -> None:
    rate, count = 40.0, 240
    with arrivals_process(tmp_path / "arrivals") as smtp_url:
        settings = make_settings(database_url=database_url, smtp_url=smtp_url, send_rate=rate,
                                 send_batch_size=10, rate_storage=_storage(database_url), smtp_pool_size=4)
        _, per_worker = await _run_workers(settings, count, tmp_path)
    arrivals = read_arrivals(tmp_path / "arrivals")
    assert len(arrivals) == count
    total = (count - 1) / (arrivals[-1] - arrivals[0])
    # the busiest second, too: no worker may make up for a slow start with a burst
    peak_second = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    _report(f"shared-rate-{settings.shared_limits.split(':')[0]}",
            {"setting": rate, "measured_total": round(total, 2), "busiest_second": peak_second,
             "workers": per_worker, "messages": count})
    assert len(per_worker) == 3, per_worker  # all three took part
    assert total <= rate * 1.1, f"three workers sent {total:.1f} msgs/s together; MAILER_SEND_RATE is {rate}"
    assert peak_second <= rate * 1.1 + 1
    assert total >= rate * 0.6  # and the rate is used, not wasted


async def test_three_workers_share_one_domain_concurrency(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    limit, count = 2, 60
    smtp_server.handler.delay = 0.15  # each transaction stays open a while at DATA
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, domain_concurrency=limit,
                             send_batch_size=10, rate_storage=_storage(database_url), smtp_pool_size=4)
    _, per_worker = await _run_workers(settings, count, tmp_path)
    peak = smtp_server.handler.peak_in_data
    _report(f"shared-domain-slots-{settings.shared_limits.split(':')[0]}",
            {"setting": limit, "peak_in_flight": peak, "workers": per_worker})
    assert len(per_worker) >= 2, per_worker
    assert peak <= limit, f"{peak} transactions to example.org at once; MAILER_DOMAIN_CONCURRENCY is {limit}"


async def _store(database_url: str, owner: str) -> tuple[SlotStore, Service | None]:
    storage = _storage(database_url)
    if storage == "database":
        svc = await Service(Settings(database_url=database_url, secret_key="k" * 40)).start()
        return PostgresSlots(svc.db.engine), svc
    await _clear_redis()
    return RedisSlots(storage, owner), None


async def test_a_domain_slot_is_taken_once_and_freed_when_its_holder_goes(database_url: str) -> None:
    first, svc = await _store(database_url, "a")
    second, other = await _store(database_url, "b")
    try:
        assert await first.take("gmail.com", 2) and await first.take("gmail.com", 2)
        assert not await first.take("gmail.com", 2)  # its own two: never the same slot twice
        assert not await second.take("gmail.com", 2)  # the domain is full for everyone
        assert await second.take("yahoo.com", 2)  # another domain is not
        await first.give_back("gmail.com")
        assert await second.take("gmail.com", 2)
        await first.close()  # a worker that stops (or dies: PostgreSQL ends its session) frees its slots
        assert await second.take("gmail.com", 2)
    finally:
        await second.close()
        for s in (svc, other):
            if s is not None:
                await s.close()


async def test_the_pace_is_one_queue_of_slots_for_everyone(database_url: str) -> None:
    first, svc = await _store(database_url, "a")
    second, other = await _store(database_url, "b")
    try:
        a = await first.reserve(5, 0.1)  # half a second of slots
        b = await second.reserve(5, 0.1)  # the next half second, whoever asks
        assert a <= 0.05
        assert 0.4 <= b - a <= 0.55
    finally:
        for store in (first, second):
            await store.close()
        for s in (svc, other):
            if s is not None:
                await s.close()


async def test_a_second_sender_on_one_sqlite_file_is_told_the_rule(
    make_settings: Callable[..., Settings], smtp_server: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    import multiprocessing

    settings = make_settings(smtp_url=smtp_server.url)
    first = await Service(settings).start()
    stop = asyncio.Event()
    loop_task = asyncio.create_task(first.sender_loop(stop, idle_seconds=0.05))
    try:
        await asyncio.sleep(0.2)
        # another process (the lock is per process, as `mailer worker` would be)
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            warning = await asyncio.to_thread(pool.apply, _second_sender, (settings.database_url, settings.data_dir))
    finally:
        stop.set()
        await loop_task
        await first.close()
    assert "MAILER_DATABASE_URL: another process is already sending" in warning
    assert "On SQLite one sending process is the rule" in warning


def _second_sender(database_url: str, data_dir: Path) -> str:
    """Start a sender loop in this (child) process for a moment; returns what it logged."""
    import io
    import logging

    from tests.conftest import SECRET

    stream = io.StringIO()
    logging.getLogger("mailer.delivery.service").addHandler(logging.StreamHandler(stream))

    async def go() -> None:
        svc = await Service(Settings(database_url=database_url, data_dir=data_dir, secret_key=SECRET)).start()
        stop = asyncio.Event()
        task = asyncio.create_task(svc.sender_loop(stop, idle_seconds=0.05))
        await asyncio.sleep(0.3)
        stop.set()
        await task
        await svc.close()

    asyncio.run(go())
    return stream.getvalue()
