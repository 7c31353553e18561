"""Real ``mailer worker`` processes for the crash and scale-out tests, and the data they drain."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from mailer.core.models import Article, Edition, OutboxMessage
from mailer.core.settings import Settings
from mailer.delivery.service import Service
from tests.support import factories

WORKER = [sys.executable, "-c", "from mailer.cli.main import main; main()", "worker"]


def worker_env(settings: Settings) -> dict[str, str]:
    """The settings of ``settings`` as ``MAILER_*`` variables for a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    assert settings.secret_key is not None
    env.update(
        MAILER_DATABASE_URL=settings.database_url,
        MAILER_SMTP_URL=settings.smtp_url or "",
        MAILER_SECRET_KEY=settings.secret_key.get_secret_value(),
        MAILER_DATA_DIR=str(settings.data_dir),
        MAILER_BASE_URL=settings.base_url,
        MAILER_SENDER_ADDRESS=settings.sender_address,
        MAILER_LEASE_SECONDS=str(settings.lease_seconds),
        MAILER_SEND_BATCH_SIZE=str(settings.send_batch_size),
        MAILER_SMTP_POOL_SIZE=str(settings.smtp_pool_size),
        MAILER_JOURNAL_FSYNC_SECONDS=str(settings.journal_fsync_seconds),
        MAILER_LOG_LEVEL="INFO",
        MAILER_SEND_RATE=str(settings.send_rate),
        MAILER_DOMAIN_CONCURRENCY=str(settings.domain_concurrency),
        MAILER_SENDER_PROCESSES=str(settings.sender_processes),
    )
    if settings.rate_storage:
        env["MAILER_RATE_STORAGE"] = settings.rate_storage
    if settings.secret_key_previous:
        env["MAILER_SECRET_KEY_PREVIOUS"] = ",".join(k.get_secret_value() for k in settings.secret_key_previous)
    return env


class Worker:
    """One ``mailer worker`` child process; its log goes to a file."""

    def __init__(self, settings: Settings, name: str, log: Path, *, poll: float = 0.1,
                 args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 command: list[str] | None = None) -> None:
        """``command`` runs another ``mailer`` command (e.g. ``serve``) the same way."""
        self.log = log
        self.name = name
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                command or [*WORKER, "--name", name, "--poll", str(poll), *args],
                env=worker_env(settings) | (env or {}),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def started(self, timeout: float = 60.0) -> None:
        for _ in range(int(timeout / 0.05)):
            if f"worker {self.name}@" in self.log.read_text(errors="replace"):  # NAME@host:pid started
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"worker {self.name} exited: {self.log.read_text(errors='replace')}")
            await asyncio.sleep(0.05)
        self.kill()  # not left running behind a failed test
        raise AssertionError(f"worker {self.name} did not start: {self.log.read_text(errors='replace')}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


async def big_edition(svc: Service, count: int, now: datetime) -> int:
    """An edition of the daily list going to ``count`` confirmed subscribers; returns its id."""
    stored = await factories.ingest_items(svc, 3, now)
    async with svc.db.transaction() as session:
        # seconds apart, not minutes: in the first minutes after the list's scheduled time the
        # older ones would fall in the previous period
        for n, article_id in enumerate(stored.ids):
            await session.execute(update(Article).where(Article.id == article_id)
                                  .values(published_at=now - timedelta(seconds=n + 1)))
        await factories.bulk_subscribers(
            session, factories.confirmed_rows((f"reader{n:05d}@example.org" for n in range(count)), now))
    result = await svc.run_list("daily", now)
    assert result.action == "sending" and result.enqueued == count, result.describe()
    return result.edition.id


async def status_counts(svc: Service, edition_id: int) -> tuple[str, dict[str, int]]:
    async with svc.db.transaction() as session:
        edition = await session.get(Edition, edition_id, populate_existing=True)
        assert edition is not None
        rows = await session.execute(
            select(OutboxMessage.status, func.count()).where(OutboxMessage.edition_id == edition_id)
            .group_by(OutboxMessage.status)
        )
        return edition.status, {status: n for status, n in rows}
