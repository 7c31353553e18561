"""Wiring: one ``Service`` per process holds the database, the renderer, the transport and the
sender, and runs a list's digest on request (from the scheduler, the CLI or an editor)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import select

from mailer.articles import polling
from mailer.compose.render import Renderer
from mailer.core.db import Database, utcnow
from mailer.core.installation import installed_at
from mailer.core.later import Later
from mailer.core.models import Edition
from mailer.core.offload import off_loop
from mailer.core.settings import Settings
from mailer.core.urls import SmtpConfig
from mailer.delivery import outbox
from mailer.delivery.devmailbox import DevMailbox, port_open
from mailer.delivery.dkim import Signer, SigningPool, signing_processes
from mailer.delivery.group import SenderGroup
from mailer.delivery.limits import limited
from mailer.delivery.sender import Clock, Sender, worker_name
from mailer.delivery.transport import SMTPTransport, Transport
from mailer.editions import alerts, planning
from mailer.editions.planning import PlanResult

log = logging.getLogger(__name__)


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        transport: Transport | None = None,
        worker_name: str | None = None,
    ) -> None:
        self.settings = settings
        self.worker_name = worker_name
        self.signing: SigningPool | None = None
        self.clock = clock
        self.db = Database(settings.database_url)
        self.renderer = Renderer(settings)
        self.devmailbox: DevMailbox | None = None
        self._transport = transport
        self._own_transport = transport is None  # helpers cannot share a transport given by a caller
        self._sender: Sender | None = None
        self.wake = asyncio.Event()  # set when new work is enqueued
        self._sender_lock: IO[str] | None = None
        self.later = Later()  # work started after its request was answered (subscriptions)
        self.group: SenderGroup | None = None  # the other sending processes (MAILER_SENDER_PROCESSES)

    async def start(self, *, migrate: bool = True) -> Service:
        if migrate:  # a process that may not migrate (readiness checks of a new database) records nothing
            await self.db.upgrade()
            async with self.db.transaction() as session:
                await installed_at(session, self.clock())  # the first start is the installation's
        await off_loop(self.renderer.warm)  # before any traffic: see ``Renderer.warm``
        return self

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = self._make_transport()
        return self._transport

    def _make_transport(self) -> Transport:
        s = self.settings
        config = s.smtp
        if config is None:
            # no relay configured: the built-in development mailbox (someone else's, or ours)
            if not port_open(s.devmailbox_host, s.devmailbox_port):
                self.devmailbox = DevMailbox(s.data_dir, s.devmailbox_host, s.devmailbox_port).start()
            port = self.devmailbox.port if self.devmailbox else s.devmailbox_port
            config = SmtpConfig(s.devmailbox_host, port, "none", None, None)
        smtp = SMTPTransport(
            config, pool_size=s.smtp_pool_size, timeout=s.smtp_timeout, data_timeout=s.smtp_data_timeout
        )
        if self.db.dialect == "sqlite" and s.sender_processes > 1:
            # limits are counted per process on SQLite: each of the group's processes gets its share
            n = s.sender_processes
            s = s.model_copy(update={"send_rate": s.send_rate / n,
                                     "domain_concurrency": max(1, s.domain_concurrency // n)})
        return limited(smtp, s, self.db.engine, self.worker_name or worker_name())

    def start_senders(self) -> None:
        """Start this process's ``sender_processes`` - 1 helper senders (once), which share the
        outbox with it until it closes; none with a transport given by the caller (tests)."""
        if self.group is None and self._own_transport and self.settings.sender_processes > 1:
            self.group = SenderGroup(self.settings, self.worker_name)
            self.group.start()
            log.info("%d more sending processes started", self.group.size)

    def woken(self) -> None:
        """New work was enqueued: this process's sender and its helper processes look now (the
        one way to say so; ``wake`` is what the sender loop waits on)."""
        self.wake.set()
        if self.group is not None:
            self.group.wake()

    @property
    def sender(self) -> Sender:
        if self._sender is None:
            signer = Signer.from_settings(self.settings)
            if signer is not None:
                processes = signing_processes(
                    self.settings.dkim_processes, self.settings.sender_processes, os.cpu_count() or 1)
                self.signing = SigningPool(signer, processes)
            self._sender = Sender(
                self.db, self.settings, self.transport, self.renderer, clock=self.clock,
                owner=self.worker_name, signing=self.signing, answered=self.later.caught_up,
            )
        return self._sender

    async def run_list(
        self,
        list_name: str,
        fire: datetime,
        *,
        force: bool = False,
        key: str | None = None,
    ) -> PlanResult:
        """Plan the edition of ``list_name`` scheduled at ``fire``; the sender picks it up."""
        now = self.clock()
        async with self.db.transaction() as session:
            result = await planning.plan(
                session, self.settings, list_name, fire, now, force=force, key=key, enqueue=outbox.enqueue_edition,
            )
        log.info(result.describe())
        self.woken()
        return result

    async def alert(self, article_id: int, *, editor: str | None = None) -> list[PlanResult]:
        """Breaking news: the article goes to the immediate lists now, once ever (see
        ``editions.alerts``); an editor's request (``editor``) is told why if nothing happens."""
        now = self.clock()
        send = alerts.send_now if editor else alerts.send_alert
        async with self.db.transaction() as session:
            results = await send(session, self.settings, article_id, now, enqueue=outbox.enqueue_edition)
        for result in results:
            log.info("breaking news%s: %s", f" (editor {editor})" if editor else "", result.describe())
        self.woken()
        return results

    async def alert_all(self, article_ids: list[int]) -> None:
        """The alerts of newly stored breaking articles; one failing does not stop the others."""
        for article_id in article_ids:
            try:
                await self.alert(article_id)
            except Exception:
                log.exception("breaking-news alert of article %s failed", article_id)

    async def poll_feeds(self, *, force: bool = False) -> list[polling.PollResult]:
        """Poll every feed of ``MAILER_FEEDS`` that is due, store what is new or changed, and
        alert the breaking articles among them."""
        results = await polling.poll_all(self.db, self.settings, self.clock(), force=force)
        await self.alert_all([i for r in results if r.stored for i in r.stored.breaking])
        return results

    async def send_now(self, list_name: str) -> PlanResult:
        """An edition on demand (``mailer digest send --now``): its own period, named by the
        millisecond, with the articles no edition of the list has carried yet."""
        now = self.clock()
        key = "now-" + now.astimezone(self.settings.tz).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        return await self.run_list(list_name, now, force=True, key=key)

    async def unfinished(self, list_name: str) -> list[Edition]:
        """Editions of the list still being sent: perhaps by a process that died."""
        async with self.db.transaction() as session:
            return list(await session.scalars(
                select(Edition).where(Edition.list_name == list_name, Edition.status == "sending")
                .order_by(Edition.id)
            ))

    async def finish(
        self,
        edition_id: int,
        progress: Callable[[outbox.Progress], None] | None = None,
        *,
        poll: float = 0.5,
    ) -> outbox.Progress:
        """Send one edition to the end, sharing it with any workers, and wait for it.

        Rows of a process of this host that is gone are taken over at once, those of other
        hosts when their lease expires. Returns when no row is being sent or due: the edition
        is sent (or paused by the breaker), or only rows waiting for a later retry are left."""
        self.start_senders()
        self.woken()
        while True:
            await self.sender.recover()
            await self.sender.drain(edition_id=edition_id)
            await self.sender.settle()  # another worker may have recorded the last rows just now
            async with self.db.transaction() as session:
                state = await outbox.progress(session, edition_id, self.clock())
            if progress is not None:
                progress(state)
            if state.status != "sending" or (not state.moving and state.next_retry is not None):
                return state
            await asyncio.sleep(poll)  # other workers hold rows: wait for them, or their leases

    async def sender_loop(self, stop: asyncio.Event, idle_seconds: float = 2.0, *, helper: bool = False) -> None:
        """Drain the outbox for as long as the process runs, waking early when work arrives, and
        recover rows whose worker died: at start, then every quarter of a lease. ``helper``: one
        of another process's group (``SenderGroup``), which starts no helpers of its own."""
        if not helper:
            self._one_sender_on_sqlite()
            self.start_senders()
        recover_every = min(60.0, self.settings.lease_seconds / 4)
        next_recovery = 0.0
        loop = asyncio.get_running_loop()

        def pause() -> bool:  # between batches: time to stop, or to look for dead workers' rows
            return stop.is_set() or loop.time() >= next_recovery

        while not stop.is_set():
            sent: Counter[str] = Counter()
            try:
                if loop.time() >= next_recovery:
                    await self.sender.recover()
                    next_recovery = loop.time() + recover_every
                sent = await self.sender.drain(until=pause)
            except Exception:  # keep the loop alive; the rows stay leased and are recovered
                log.exception("sender batch failed")
            if not sent:
                self.wake.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), min(idle_seconds, recover_every))

    def _one_sender_on_sqlite(self) -> None:
        """On SQLite one sending process is the rule: the send rate and the per-domain concurrency
        are counted per process there. Say so loudly when a second one starts on the same file."""
        if self.db.dialect != "sqlite" or self._sender_lock is not None:
            return
        path = Path(self.settings.database_url.split(":///", 1)[-1] + ".sender.lock")
        lock = path.open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            log.warning(
                "MAILER_DATABASE_URL: another process is already sending from %s. On SQLite one sending "
                "process is the rule: MAILER_SEND_RATE and MAILER_DOMAIN_CONCURRENCY are counted per "
                "process, so together they now send faster than set. Stop this one, or move to PostgreSQL.",
                path.with_suffix("").with_suffix(""),
            )
            return
        self._sender_lock = lock

    async def close(self) -> None:
        await self.later.settle()
        if self.group is not None:
            await self.group.close()
        if self._sender is not None:
            await self._sender.close()
        if self._sender_lock is not None:
            self._sender_lock.close()  # closing the file releases the lock
        if self._transport is not None:
            await self._transport.close()
        if self.signing is not None:
            self.signing.close()
        if self.devmailbox is not None:
            self.devmailbox.stop()
        await self.db.dispose()
