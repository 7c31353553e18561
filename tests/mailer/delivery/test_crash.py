"""Crash safety and scale-out with real processes: ``mailer worker`` killed with SIGKILL and
restarted, and two workers draining one edition at once. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.core.db import utcnow
from mailer.core.models import Edition, OutboxMessage
from mailer.core.settings import Settings
from mailer.delivery.service import Service
from tests.support.smtpd import SMTPServer
from tests.support.workers import Worker, big_edition, status_counts

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # real processes, killed and restarted

SUBSCRIBERS = 2000
KILLS = 10
BATCH = 50
LEASE = 2
ARTIFACTS = Path(__file__).resolve().parents[3] / "tests" / "artifacts"


def _report(name: str, figures: dict[str, object]) -> None:
    print(f"\n{name}: " + json.dumps(figures))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(figures, indent=2))


async def _wait_finished(svc: Service, edition_id: int, timeout: float = 300.0) -> None:
    for _ in range(int(timeout / 0.2)):
        status, _ = await status_counts(svc, edition_id)
        if status == "sent":
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"edition {edition_id} not finished: {await status_counts(svc, edition_id)}")


async def test_sigkill_at_random_points_loses_nothing(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url,
                             lease_seconds=LEASE, send_batch_size=BATCH)
    seed = int(os.environ.get("MAILER_TEST_CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    svc = await Service(settings).start()
    try:
        edition_id = await big_edition(svc, SUBSCRIBERS, utcnow())
        log = tmp_path / "worker.log"
        kill_points = []
        for kill in range(KILLS):
            worker = Worker(settings, f"crash-{kill}", log)
            await worker.started()
            # a random point after the batch holding the previous kill's rows has been recorded
            # (more than one batch received since the restart), plus a random delay
            target = len(smtp_server.received) + rng.randint(BATCH + 1, 3 * BATCH)
            while len(smtp_server.received) < target and worker.proc.poll() is None:
                await asyncio.sleep(0.005)
            await asyncio.sleep(rng.uniform(0, 0.03))  # jitter: a few messages, not hundreds
            worker.kill()
            status, counts = await status_counts(svc, edition_id)
            kill_points.append(len(smtp_server.received))
            assert counts.get("pending", 0) + counts.get("sending", 0) > 0, "drained before the kill"
            assert status == "sending", f"edition marked {status} with rows open: {counts}"
            await asyncio.sleep(LEASE + 0.3)  # the dead worker's leases expire
        last = Worker(settings, "crash-final", log)
        await last.started()
        await _wait_finished(svc, edition_id)
        assert last.stop() == 0

        _, counts = await status_counts(svc, edition_id)
        async with svc.db.transaction() as session:
            per_subscriber = Counter(
                n for (n,) in await session.execute(
                    select(func.count()).select_from(OutboxMessage)
                    .where(OutboxMessage.edition_id == edition_id, OutboxMessage.status == "sent")
                    .group_by(OutboxMessage.subscriber_id)
                )
            )
            edition = await session.get(Edition, edition_id)
            last_sent = await session.scalar(select(func.max(OutboxMessage.sent_at)))
            recovered = await session.scalar(select(func.count()).where(OutboxMessage.recoveries > 0))
    finally:
        await svc.close()

    assert counts == {"sent": SUBSCRIBERS}
    assert per_subscriber == {1: SUBSCRIBERS}  # every subscriber: exactly one sent row
    assert edition is not None and edition.finished_at is not None and last_sent is not None
    assert edition.finished_at >= last_sent  # not finished before the last row was sent
    copies = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert len(copies) == SUBSCRIBERS  # every address reached the server
    duplicates = sum(copies.values()) - SUBSCRIBERS
    assert duplicates <= KILLS * BATCH  # at most the in-flight window (one batch) per kill
    _report(f"crash-{settings.database_url.split('+')[0]}", {
        "seed": seed, "subscribers": SUBSCRIBERS, "kills": KILLS, "batch_size": BATCH,
        "received": sum(copies.values()), "duplicates": duplicates,
        "max_copies_of_one_address": max(copies.values()), "rows_recovered": recovered,
        "received_at_each_kill": kill_points,
    })


async def test_two_workers_drain_one_edition_without_duplicates(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url,
                             lease_seconds=30, send_batch_size=BATCH)
    svc = await Service(settings).start()
    workers = [Worker(settings, f"w{n}", tmp_path / f"w{n}.log") for n in (1, 2)]
    try:
        for worker in workers:
            await worker.started()
        edition_id = await big_edition(svc, 1500, utcnow())  # both are polling when it appears
        await _wait_finished(svc, edition_id)
        async with svc.db.transaction() as session:
            histories = list(await session.scalars(select(OutboxMessage.history)))
    finally:
        codes = [w.stop() for w in workers]
        await svc.close()
    assert codes == [0, 0]
    copies = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert len(copies) == 1500 and set(copies.values()) == {1}  # each address exactly once
    senders = Counter(json.loads(h)[-1]["worker"] for h in histories)
    assert set(senders) == {"w1", "w2"}, senders  # both took part
    _report(f"two-workers-{settings.database_url.split('+')[0]}", dict(senders))
