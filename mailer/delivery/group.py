"""More sending processes for one service: ``MAILER_SENDER_PROCESSES`` - 1 helpers beside it.

One sender is one event loop on one core: composing, the SMTP sessions and the database work
of a batch all share it. The outbox already lets any number of workers share an edition
(leases, compare-and-set on every row), so a second core is used by a second process doing
exactly what ``mailer worker`` does. The helpers are started by the process that sends
(``serve``, ``worker``, ``digest send``), woken when it plans new work, and die with it: a
helper of a process killed with SIGKILL is killed too (Linux's parent-death signal), and its
rows are taken over like any dead worker's (its lease names its own pid, and its own journal
says which messages the server had accepted).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as ProcessEvent

from mailer.core import loop
from mailer.core.heap import freeze_startup
from mailer.core.settings import Settings

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class _Helper:
    process: BaseProcess
    wake: ProcessEvent  # set by the group: new work was planned
    ready: ProcessEvent  # set by the helper once its service has started


class SenderGroup:
    """The helper processes of one sending process (none when ``sender_processes`` is 1)."""

    def __init__(self, settings: Settings, owner: str | None) -> None:
        self.settings = settings
        # a helper of "NAME@host:pid" is "NAME-1@host:pid2"; of an unnamed "host:pid", "sender-1@host:pid2"
        self.label = owner.split("@", 1)[0] if owner and "@" in owner else "sender"
        self._context = multiprocessing.get_context("spawn")  # no copy of the parent's loop or sockets
        self._stop = self._context.Event()
        self._helpers: list[_Helper] = []

    @property
    def size(self) -> int:
        return len(self._helpers)

    def start(self) -> None:
        """Start the helpers (once); each runs a sender loop until the group is closed."""
        if self._helpers:
            return
        for n in range(1, self.settings.sender_processes):
            wake, ready = self._context.Event(), self._context.Event()
            label = f"{self.label}-{n}"
            process = self._context.Process(
                target=_helper, args=(self.settings, label, os.getpid(), wake, self._stop, ready),
                # not a daemon: a daemonic process may not start the DKIM signing processes
                name=f"mailer {label}", daemon=False,
            )
            process.start()
            self._helpers.append(_Helper(process, wake, ready))

    async def ready(self, timeout: float = 60.0) -> bool:
        """Wait until every helper has started its service (imports, database, templates: about
        a second of CPU each) and is looking at the outbox; False if one did not in ``timeout``."""
        deadline = time.monotonic() + timeout
        for helper in self._helpers:
            if not await asyncio.to_thread(helper.ready.wait, max(0.0, deadline - time.monotonic())):
                return False
        return True

    def wake(self) -> None:
        """New work was planned: the helpers look at the outbox now, not at their next poll."""
        for helper in self._helpers:
            helper.wake.set()

    async def close(self, timeout: float = 30.0) -> None:
        """Ask the helpers to stop after their batch, and wait for them (then terminate)."""
        if not self._helpers:
            return
        self._stop.set()
        self.wake()
        for process in (helper.process for helper in self._helpers):
            await asyncio.to_thread(process.join, timeout)
            if process.is_alive():
                log.warning("sender helper %s did not stop in %.0f s: terminated", process.pid, timeout)
                process.terminate()
                await asyncio.to_thread(process.join, 5)
        self._helpers.clear()


def _die_with_parent() -> None:
    """SIGKILL when the parent dies, however it dies (Linux); elsewhere the poll below notices."""
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _helper(settings: Settings, label: str, parent: int, wake: ProcessEvent, stop: ProcessEvent,
            ready: ProcessEvent) -> None:
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the signal was armed
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    from mailer.core.logs import configure

    configure(settings)
    loop.run(_help(settings, label, parent, wake, stop, ready))


async def _help(settings: Settings, label: str, parent: int, wake: ProcessEvent, stop: ProcessEvent,
                ready: ProcessEvent) -> None:
    from mailer.delivery.sender import worker_name
    from mailer.delivery.service import Service

    svc = await Service(settings, worker_name=worker_name(label)).start(migrate=False)
    freeze_startup()
    stopping = asyncio.Event()

    async def bridge() -> None:  # the parent's events, into this loop's
        while not stopping.is_set():
            woken = await asyncio.to_thread(wake.wait, 0.5)
            if stop.is_set() or os.getppid() != parent:
                stopping.set()
            if woken:
                wake.clear()
                svc.wake.set()

    bridging = asyncio.create_task(bridge())
    ready.set()
    try:
        await svc.sender_loop(stopping, idle_seconds=2.0, helper=True)
    finally:
        stopping.set()
        await bridging
        await svc.close()
