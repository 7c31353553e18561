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
POOL = 8  # the SMTP connections of a sending process: what may be on them when it dies
SENDERS = 2  # MAILER_SENDER_PROCESSES: the worker and its helper die together
PAIR_ROWS = 4000
LEASE = 120  # long: a dead worker of this host is taken over at once, not when its lease expires
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


async def _quiet(smtp_server: SMTPServer, still: float = 0.3) -> int:
    """Messages received once the server has read what a killed worker had already written (its
    thread may still be reading the dead connections' buffers when the kill returns): the count,
    once it has not moved for ``still`` seconds."""
    count = len(smtp_server.received)
    while True:
        await asyncio.sleep(still)
        if (now := len(smtp_server.received)) == count:
            return count
        count = now


def duplicates_per_kill(addresses: list[str], kill_points: list[int]) -> list[int]:
    """Each repeated copy blamed on the kill between it and the copy before it (``kill_points``:
    messages received when each kill happened); a repeat with no kill in between fails."""
    seen: dict[str, int] = {}
    per_kill = [0] * len(kill_points)
    for position, address in enumerate(addresses):
        if address in seen:
            kill = next((k for k, point in enumerate(kill_points) if seen[address] < point <= position), None)
            assert kill is not None, f"{address} repeated at {position} with no kill since {seen[address]}"
            per_kill[kill] += 1
        seen[address] = position
    return per_kill


async def test_sigkill_at_random_points_loses_nothing_and_repeats_only_what_was_in_flight(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, lease_seconds=LEASE,
                             send_batch_size=BATCH, smtp_pool_size=POOL, sender_processes=SENDERS)
    seed = int(os.environ.get("MAILER_TEST_CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    svc = await Service(settings).start()
    try:
        edition_id = await big_edition(svc, SUBSCRIBERS, utcnow())
        log = tmp_path / "worker.log"
        kill_points, modes = [], []
        for kill in range(KILLS):
            worker = Worker(settings, f"crash-{kill}", log)
            await worker.started()
            # a random point some way on from where the previous worker died; the server takes no
            # more than a few messages past it (it holds their replies), so however fast the
            # worker runs on a loaded machine the edition is never drained before the last kill
            target = len(smtp_server.received) + rng.randint(20, 150)
            held = rng.random() < 0.5  # killed while the server holds replies: the worst case
            smtp_server.hold_replies_after(target if held else target + rng.randint(1, 60))
            while len(smtp_server.received) < target and worker.proc.poll() is None:
                await asyncio.sleep(0.005)
            await asyncio.sleep(rng.uniform(0, 0.03))  # jitter: wherever the worker is by then
            worker.kill()
            kill_points.append(await _quiet(smtp_server))
            modes.append("held" if held else "free")
            smtp_server.release_replies()
            status, counts = await status_counts(svc, edition_id)
            assert counts.get("pending", 0) + counts.get("sending", 0) > 0, "drained before the kill"
            assert status == "sending", f"edition marked {status} with rows open: {counts}"
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
            from_journal = sum(
                1 for (history,) in await session.execute(select(OutboxMessage.history))
                if any(entry.get("journal") for entry in json.loads(history))
            )
    finally:
        await svc.close()

    assert counts == {"sent": SUBSCRIBERS}
    assert per_subscriber == {1: SUBSCRIBERS}  # every subscriber: exactly one sent row
    assert edition is not None and edition.finished_at is not None and last_sent is not None
    assert edition.finished_at >= last_sent  # not finished before the last row was sent
    addresses = [r.rcpt_tos[0] for r in smtp_server.received]
    copies = Counter(addresses)
    lost = SUBSCRIBERS - len(copies)
    per_kill = duplicates_per_kill(addresses, kill_points)
    _report(f"crash-{settings.database_url.split('+')[0]}", {
        "seed": seed, "subscribers": SUBSCRIBERS, "kills": KILLS, "batch_size": BATCH, "pool_size": POOL,
        "sender_processes": SENDERS,
        "received": len(addresses), "lost": lost, "duplicates": sum(per_kill),
        "duplicates_per_kill": per_kill, "max_copies_of_one_address": max(copies.values()),
        "rows_recovered": recovered, "rows_recorded_from_the_journal": from_journal,
        "received_at_each_kill": kill_points, "kill_modes": modes,
    })
    assert lost == 0  # every address reached the server
    assert max(per_kill) <= POOL * SENDERS, per_kill  # at most what was on the connections, not a batch
    assert from_journal > 0  # the journal did its part: accepted rows were not sent again


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
    senders = Counter(json.loads(h)[-1]["worker"].split("@")[0] for h in histories)  # NAME@host:pid
    assert set(senders) == {"w1", "w2"}, senders  # both took part
    _report(f"two-workers-{settings.database_url.split('+')[0]}", dict(senders))


async def test_sender_processes_share_an_edition_and_die_with_their_worker(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """``MAILER_SENDER_PROCESSES=2``: one ``mailer worker`` and its helper drain an edition
    together, each row once; killed with SIGKILL, the helper goes with it, and what the pair left
    is finished by the next worker without loss."""
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, lease_seconds=LEASE,
                             send_batch_size=BATCH, sender_processes=2)
    svc = await Service(settings).start()
    try:
        edition_id = await big_edition(svc, PAIR_ROWS, utcnow())
        first = Worker(settings, "pair", tmp_path / "pair.log")
        await first.started()
        helpers = await _children(first.proc.pid)
        for _ in range(3000):  # until the helper has recorded a batch
            if await _recorded_by(svc, "pair-1@") or first.proc.poll() is not None:
                break
            await asyncio.sleep(0.01)
        first.kill()
        for _ in range(100):  # the parent-death signal reaches the helper at once
            if not _alive(helpers):
                break
            await asyncio.sleep(0.05)
        assert helpers and not _alive(helpers), helpers
        last = Worker(settings, "after", tmp_path / "after.log")
        await last.started()
        await _wait_finished(svc, edition_id)
        assert last.stop() == 0
        async with svc.db.transaction() as session:
            histories = list(await session.scalars(select(OutboxMessage.history)))
    finally:
        await svc.close()
    copies = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert len(copies) == PAIR_ROWS  # none lost
    assert sum(copies.values()) - PAIR_ROWS <= POOL * 2  # repeats: only what was on the pair's connections
    workers = Counter(entry["worker"].split("@")[0] for h in histories for entry in json.loads(h)
                      if entry.get("worker"))
    assert {"pair", "pair-1"} <= set(workers), workers  # the worker and its helper both sent


async def _recorded_by(svc: Service, owner: str) -> bool:
    async with svc.db.transaction() as session:
        found = await session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.history.contains(f'"worker": "{owner}')).limit(1))
    return found is not None


def _alive(pids: list[int]) -> bool:
    return any(os.path.exists(f"/proc/{pid}") for pid in pids)


def _child_pids(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(p) for p in fh.read().split()]


async def _children(pid: int) -> list[int]:
    """The helper processes of ``pid`` (no DKIM here, so no signing processes)."""
    for _ in range(200):
        found = _child_pids(pid)
        if found:
            return found
        await asyncio.sleep(0.05)
    return []
