"""Work a request asks for but its answer must not wait on (``POST /subscribe``: what is done with
an address would show in the answer's time). ``run`` starts it now, after the answer, at most
``limit`` at once; ``settle`` waits for all that was started, so that a worker draining the
outbox, or a process shutting down, sees every piece of work whose request was answered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Later:
    def __init__(self, limit: int = 8) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._running: set[asyncio.Task[None]] = set()

    def run(self, work: Coroutine[Any, Any, object], what: str) -> None:
        task = asyncio.create_task(self._guarded(work, what))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _guarded(self, work: Coroutine[Any, Any, object], what: str) -> None:
        async with self._slots:
            try:
                await work
            except Exception:  # nobody is waiting for it: the log is where it is seen
                log.exception("%s failed after its request was answered", what)

    async def settle(self) -> None:
        """Wait for every piece of work started so far (and what it started meanwhile)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
