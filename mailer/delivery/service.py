"""Wiring: one ``Service`` per process holds the database, the renderer, the transport and the
sender, and runs a list's digest on request (from the scheduler, the CLI or an editor)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from contextlib import suppress
from datetime import datetime

from mailer.compose.render import Renderer
from mailer.core.db import Database, utcnow
from mailer.core.later import Later
from mailer.core.offload import off_loop
from mailer.core.settings import Settings
from mailer.core.urls import SmtpConfig
from mailer.delivery import outbox
from mailer.delivery.devmailbox import DevMailbox, port_open
from mailer.delivery.dkim import Signer, SigningPool
from mailer.delivery.limits import LimitedTransport
from mailer.delivery.sender import Clock, Sender
from mailer.delivery.transport import SMTPTransport, Transport
from mailer.editions import planning
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
        self._sender: Sender | None = None
        self.wake = asyncio.Event()  # set when new work is enqueued
        self.later = Later()  # work started after its request was answered (subscriptions)

    async def start(self, *, migrate: bool = True) -> Service:
        if migrate:
            await self.db.upgrade()
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
        return LimitedTransport(smtp, rate=s.send_rate, domain_concurrency=s.domain_concurrency)

    @property
    def sender(self) -> Sender:
        if self._sender is None:
            signer = Signer.from_settings(self.settings)
            if signer is not None:
                processes = self.settings.dkim_processes
                self.signing = SigningPool(signer, (os.cpu_count() or 1) if processes is None else processes)
            self._sender = Sender(
                self.db, self.settings, self.transport, self.renderer, clock=self.clock,
                owner=self.worker_name, signing=self.signing, settle=self.later.settle,
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
        since = planning.period_start(self.settings, list_name, fire)
        async with self.db.transaction() as session:
            result = await planning.plan(
                session, self.settings, list_name, fire, now, since=since, force=force, key=key,
                enqueue=outbox.enqueue_edition,
            )
        log.info(result.describe())
        self.wake.set()
        return result

    async def send_now(self, list_name: str) -> PlanResult:
        """An edition on demand (``mailer digest send --now``): its own period, named by the minute."""
        now = self.clock()
        key = "now-" + planning.period_key(now, self.settings)
        return await self.run_list(list_name, now, force=True, key=key)

    async def sender_loop(self, stop: asyncio.Event, idle_seconds: float = 2.0) -> None:
        """Drain the outbox for as long as the process runs, waking early when work arrives, and
        recover rows whose worker died: at start, then every quarter of a lease."""
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

    async def close(self) -> None:
        await self.later.settle()
        if self._transport is not None:
            await self._transport.close()
        if self.signing is not None:
            self.signing.close()
        if self.devmailbox is not None:
            self.devmailbox.stop()
        await self.db.dispose()
